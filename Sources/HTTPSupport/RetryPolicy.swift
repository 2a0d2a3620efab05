import Foundation

/// When and how long to wait before trying a request again.
///
/// Mirrors MLflow's own client: connection errors and 408, 429, 500, 502, 503, 504 are retried
/// with exponential backoff and jitter; no other 4xx ever is. Unlike it, the total time spent is
/// bounded, so an interactive command fails within seconds instead of minutes.
public struct RetryPolicy: Sendable, Equatable {
    /// How many attempts in all, the first included.
    public var maxAttempts: Int
    /// The wait before the second attempt; each further wait doubles.
    public var initialBackoff: Duration
    /// No single wait is longer than this (a `Retry-After` may ask for more, within the budget).
    public var maxBackoff: Duration
    /// The fraction of each wait that is random, so many clients do not retry in step.
    public var jitter: Double
    /// Attempts stop once this much time has passed since the first one started.
    public var budget: Duration

    public init(
        maxAttempts: Int = 6, initialBackoff: Duration = .milliseconds(200),
        maxBackoff: Duration = .seconds(10), jitter: Double = 0.25, budget: Duration = .seconds(5)
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.jitter = min(max(jitter, 0), 1)
        self.budget = budget
    }

    /// For interactive commands: gives up after about 5 seconds.
    public static let interactive = RetryPolicy()
    /// For a training, which must outlast a short server restart: about 2 minutes.
    public static let patient = RetryPolicy(maxAttempts: 12, budget: .seconds(120))
    /// One attempt, no waiting.
    public static let none = RetryPolicy(maxAttempts: 1, budget: .zero)

    /// Whether an HTTP status is worth another attempt.
    public static func isRetryable(status: Int) -> Bool {
        status == 408 || status == 429 || (500...599).contains(status) && status != 501
    }

    /// The wait before attempt `attempt + 1` (attempts count from 1).
    ///
    /// - Parameters:
    ///   - retryAfter: the server's `Retry-After`, which wins when it is longer.
    ///   - random: a number in 0..<1 that scales the jitter.
    public func backoff(afterAttempt attempt: Int, retryAfter: Duration?, random: Double) -> Duration {
        let exponent = Double(max(0, attempt - 1))
        let base = min(initialBackoff.seconds * pow(2, exponent), maxBackoff.seconds)
        let jittered = base * (1 - jitter + 2 * jitter * random)
        let wait = max(jittered, retryAfter?.seconds ?? 0)
        return .milliseconds(Int64((wait * 1000).rounded()))
    }

    /// Reads a `Retry-After` header: delay-seconds or an HTTP date.
    public static func parseRetryAfter(_ value: String?, now: Date = Date()) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Double(value), seconds >= 0 {
            return .milliseconds(Int64(seconds * 1000))
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(Int64(max(0, date.timeIntervalSince(now)) * 1000))
    }
}

/// The clock the retry loop reads and sleeps on; tests inject one that only pretends to wait.
public protocol RetryClock: Sendable {
    /// Monotonic time since an arbitrary origin.
    var now: Duration { get }
    func sleep(for duration: Duration) async throws
}

/// The real clock.
public struct SystemRetryClock: RetryClock {
    private let origin = ContinuousClock.now
    public init() {}
    public var now: Duration { ContinuousClock.now - origin }
    public func sleep(for duration: Duration) async throws {
        try await Task.sleep(for: duration)
    }
}

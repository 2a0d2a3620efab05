import Foundation
import Testing

@testable import MLflow

@Suite("Retry policy")
struct RetryPolicyTests {
    @Test("backoff doubles from the initial wait, capped, jitter around the middle")
    func backoff() {
        let policy = RetryPolicy(initialBackoff: .milliseconds(200), maxBackoff: .seconds(1), jitter: 0.25)
        #expect(policy.backoff(afterAttempt: 1, retryAfter: nil, random: 0.5) == .milliseconds(200))
        #expect(policy.backoff(afterAttempt: 2, retryAfter: nil, random: 0.5) == .milliseconds(400))
        #expect(policy.backoff(afterAttempt: 3, retryAfter: nil, random: 0.5) == .milliseconds(800))
        #expect(policy.backoff(afterAttempt: 4, retryAfter: nil, random: 0.5) == .seconds(1))
        #expect(policy.backoff(afterAttempt: 1, retryAfter: nil, random: 0) == .milliseconds(150))
        #expect(policy.backoff(afterAttempt: 1, retryAfter: nil, random: 0.999_999) == .milliseconds(250))
    }

    @Test("a longer Retry-After wins")
    func retryAfterWins() {
        let policy = RetryPolicy()
        #expect(policy.backoff(afterAttempt: 1, retryAfter: .seconds(3), random: 0.5) == .seconds(3))
    }

    @Test("Retry-After as seconds and as an HTTP date")
    func parsesRetryAfter() {
        #expect(RetryPolicy.parseRetryAfter("2") == .seconds(2))
        #expect(RetryPolicy.parseRetryAfter("0.5") == .milliseconds(500))
        let now = Date(timeIntervalSince1970: 1_784_000_000)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let header = formatter.string(from: now.addingTimeInterval(4))
        #expect(RetryPolicy.parseRetryAfter(header, now: now) == .seconds(4))
        #expect(RetryPolicy.parseRetryAfter("soon") == nil)
        #expect(RetryPolicy.parseRetryAfter(nil) == nil)
    }

    @Test("retryable statuses: 408, 429, 5xx but 501")
    func statuses() {
        for status in [408, 429, 500, 502, 503, 504] { #expect(RetryPolicy.isRetryable(status: status)) }
        for status in [400, 401, 403, 404, 409, 501] { #expect(!RetryPolicy.isRetryable(status: status)) }
    }
}

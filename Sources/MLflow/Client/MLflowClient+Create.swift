import Foundation

extension MLflowClient {
    /// The tag by which a run or model version this client creates can be found again: a fresh
    /// random token per create.
    public static let createTokenTag = "client.create_token"

    /// Creates something the server must not make twice (a run, a model version).
    ///
    /// A create that timed out or lost its connection may have been carried out, only its answer
    /// lost: sending it again would make a duplicate. So every attempt carries a fresh-per-call
    /// token in a tag, and after a failed attempt `lookup` searches for what carries it before
    /// anything is sent again. Other failures retry as ``RetryPolicy`` says.
    ///
    /// - Parameters:
    ///   - attempt: one attempt, without retries.
    ///   - lookup: what an earlier attempt made, if any (its own requests retry as usual).
    func createOnce<Made: Sendable>(
        _ attempt: (MLflowClient) async throws -> Made, lookup: () async throws -> Made?
    ) async throws -> Made {
        let once = with(retry: .none)
        let started = clock.now
        var attempts = 0
        while true {
            attempts += 1
            try Task.checkCancellation()
            let failure: MLflowError
            do {
                return try await attempt(once)
            } catch let error as MLflowError where error.mayBeRetried {
                failure = error
            }
            if let made = try await lookup() { return made }
            let wait = retry.backoff(afterAttempt: attempts, retryAfter: nil, random: random())
            let elapsed = clock.now - started
            // As in `send`: one more attempt after a lost connection is always allowed.
            let withinBudget = elapsed + wait <= retry.budget || (attempts == 1 && retry.budget > .zero)
            guard attempts < retry.maxAttempts, withinBudget else {
                if case .unreachable(let uri, let detail, _) = failure { throw MLflowError.unreachable(uri: uri, detail: detail, attempts: attempts) }
                throw failure
            }
            try await clock.sleep(for: wait)
        }
    }
}

extension MLflowError {
    /// Whether another attempt may succeed: no answer, or a 408, 429 or 5xx.
    var mayBeRetried: Bool {
        switch self {
        case .unreachable: return true
        case .api(_, let status, _, _): return RetryPolicy.isRetryable(status: status)
        case .invalidResponse(_, let status, _): return RetryPolicy.isRetryable(status: status)
        default: return false
        }
    }
}

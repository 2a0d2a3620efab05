/// Runs `body` in a task that does not inherit cancellation, so a run still gets ended after
/// the caller was cancelled.
@discardableResult
func uncancelled<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
    await Task.detached { await body() }.value
}

/// ``uncancelled(_:)`` for a body that throws.
func uncancelledThrowing<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await Task.detached { try await body() }.value
}

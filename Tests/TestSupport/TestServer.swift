/// A server a test started and must stop, whatever happens.
public protocol TestServer: Sendable {
    func stop() async
}

/// Runs `body` with `server`, then stops the server, also when `body` throws.
public func withStopping<S: TestServer, R: Sendable>(_ server: S, _ body: (S) async throws -> R) async throws -> R {
    let result: R
    do {
        result = try await body(server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
    return result
}

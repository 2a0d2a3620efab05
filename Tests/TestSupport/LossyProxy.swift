#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow
import MLflow

/// `Tests/Fixtures/lossy_proxy.py` in front of a real server: the first request to each of
/// `paths` is carried out by the server, and then its answer is lost (the connection closed).
public final class LossyProxy: TestServer {
    public let uri: String
    let child: ChildProcess

    public static func start(upstream: String, losing paths: [String]) async throws -> LossyProxy {
        let script = TestEnvironment.repoRoot + "/Tests/Fixtures/lossy_proxy.py"
        let child = try ChildProcess.spawn(
            ProcessSpec(
                executable: TestEnvironment.python, arguments: [script, "--upstream", upstream] + paths,
                environment: TestEnvironment.cleanEnvironment(), stdout: .pipe, stderr: .inherit, grouping: .newGroup))
        TestEnvironment.register(pgid: child.pid)
        for await line in ChildProcess.lines(of: child.stdout!) where line.hasPrefix("port ") {
            return LossyProxy(uri: "http://127.0.0.1:\(line.dropFirst(5))", child: child)
        }
        await child.terminate(grace: .seconds(1))
        TestEnvironment.unregister(pgid: child.pid)
        throw Python.Failure(description: "the lossy proxy did not start")
    }

    init(uri: String, child: ChildProcess) {
        self.uri = uri
        self.child = child
    }

    /// How many answers were lost, per path.
    public func dropped() async throws -> [String: Int] {
        let response = try await AsyncHTTPClientTransport.shared(insecureTLS: false)
            .execute(HTTPRequest(method: "GET", url: uri + "/_lossy/dropped"), timeout: .seconds(10))
        return try JSONSerialization.jsonObject(with: response.body) as? [String: Int] ?? [:]
    }

    public func stop() async {
        await child.terminate(grace: .seconds(2))
        TestEnvironment.unregister(pgid: child.pid)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow
import MLflow
import Testing

/// A real `mlflow server` from the project venv on a free loopback port, in its own process
/// group (uvicorn workers and job runners included), stopped as a group.
public final class MLflowTestServer: TestServer {
    public let uri: String
    public let port: Int
    public let directory: String
    let child: ChildProcess

    /// The server of the suite that is running (see ``MLflowServerTrait``).
    @TaskLocal public static var current: MLflowTestServer?

    /// Starts a server with SQLite under a fresh temp dir.
    ///
    /// - Parameter defaultArtifactRoot: with nil, artifacts are proxied (`--artifacts-destination`);
    ///   otherwise clients write to this root themselves (`--no-serve-artifacts`).
    ///   - directory, port: given to start a server again where a stopped one was (an outage).
    public static func start(
        defaultArtifactRoot: String? = nil, extraEnvironment: [String: String] = [:], backendStoreURI: String? = nil,
        directory: String? = nil, port: Int? = nil, workers: Int = 1
    ) async throws -> MLflowTestServer {
        let directory = directory ?? TestEnvironment.temporaryDirectory("mlflow-server")
        let port = port ?? TestEnvironment.freePort()
        let mlflow = (TestEnvironment.python as NSString).deletingLastPathComponent + "/mlflow"
        var arguments = [
            "server", "--backend-store-uri", backendStoreURI ?? "sqlite:///\(directory)/mlflow.db",
            "--host", "127.0.0.1", "--port", String(port), "--workers", String(workers),
        ]
        if let root = defaultArtifactRoot {
            arguments += ["--default-artifact-root", root, "--no-serve-artifacts"]
        } else {
            arguments += ["--artifacts-destination", "\(directory)/artifacts", "--serve-artifacts"]
        }
        let log = "\(directory)/server.log"
        let child = try ChildProcess.spawn(
            ProcessSpec(
                executable: mlflow, arguments: arguments,
                environment: TestEnvironment.cleanEnvironment(
                    ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"].merging(extraEnvironment) { $1 }),
                workingDirectory: directory,
                stdout: .file(log, append: true), stderr: .file(log, append: true), grouping: .newGroup))
        TestEnvironment.register(pgid: child.pid)
        let server = MLflowTestServer(uri: "http://127.0.0.1:\(port)", port: port, directory: directory, child: child)
        var probe = try MLflowClient(trackingURI: server.uri, retry: .none)
        probe.requestTimeout = .seconds(2)
        let deadline = ContinuousClock.now + .seconds(300)  // many suites start theirs at once on 2 cores; a server that dies is seen at once
        while ContinuousClock.now < deadline {
            if (try? await probe.health()) == true { return server }
            if await child.waitForExit(timeout: .milliseconds(200)) != nil { break }
        }
        await server.stop()
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        throw Python.Failure(description: "mlflow server did not start on port \(port):\n\(text.suffix(2000))")
    }

    init(uri: String, port: Int, directory: String, child: ChildProcess) {
        self.uri = uri
        self.port = port
        self.directory = directory
        self.child = child
    }

    /// A client of this server.
    public func client(retry: RetryPolicy = .interactive) throws -> MLflowClient {
        try MLflowClient(trackingURI: uri, retry: retry)
    }

    /// Kills the whole process group at once, as a crash would (``stop()`` still tidies up).
    public func kill() {
        child.signal(SIGKILL)
    }

    /// Stops the whole process group: SIGTERM, then SIGKILL.
    public func stop() async {
        await child.terminate(grace: .seconds(5))
        TestEnvironment.unregister(pgid: child.pid)
    }

    /// The environment for the official Python client to use this server.
    public var pythonEnvironment: [String: String] { ["MLFLOW_TRACKING_URI": uri] }
}

/// Gives a suite one real MLflow server, started before its tests and stopped after them,
/// whatever happened. Tests read it from ``MLflowTestServer/current``.
public struct MLflowServerTrait: SuiteTrait, TestScoping {
    public var isRecursive: Bool { false }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await withStopping(try await MLflowTestServer.start()) { server in
            try await MLflowTestServer.$current.withValue(server) { try await function() }
        }
    }
}

extension Trait where Self == MLflowServerTrait {
    /// One real MLflow server for the whole suite.
    public static var mlflowServer: MLflowServerTrait { MLflowServerTrait() }
}

/// The running suite's server; fails the test when there is none.
public func currentServer() throws -> MLflowTestServer {
    try #require(MLflowTestServer.current, "the suite needs the .mlflowServer trait")
}

extension MLflowTestServer {
    /// The one run of an experiment (the first, when a test made several).
    public func onlyRun(inExperiment name: String) async throws -> Run {
        let client = try client()
        guard let experiment = try await client.getExperiment(named: name),
            let run = try await client.allRuns(experimentIds: [experiment.experimentId]).first
        else { throw Python.Failure(description: "experiment '\(name)' has no run") }
        return run
    }
}

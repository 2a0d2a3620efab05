import Config
import Foundation
import Glibc
import GuardianFlowCore
import MLflow

/// The embedded default: a local MLflow server with SQLite and proxied artifacts under the
/// work dir, on 127.0.0.1, started in a session of its own so it outlives the command that
/// started it. `stop()` ends its whole process group (uvicorn workers and job runners too).
public struct LocalMLflowServer: Sendable {
    public var workDir: String
    public var port: Int
    public var host = "127.0.0.1"
    public var python: PythonEnvironment
    /// How long `start()` waits for `/health`. A first start creates the database (MLflow's
    /// migrations), which takes 20 s on an idle two-core machine and minutes on a busy one; a
    /// server that dies meanwhile is reported at once, so this only bounds a hung one.
    public var startTimeout: Duration = .seconds(300)

    public init(workDir: String, port: Int = 5000, python: PythonEnvironment) {
        self.workDir = workDir
        self.port = port
        self.python = python
    }

    public init(settings: Settings) {
        self.init(workDir: settings.workDir, port: settings.serverPort, python: .locate(settings: settings))
    }

    public var uri: String { "http://\(host):\(port)" }
    var serverDir: String { (workDir as NSString).appendingPathComponent("server") }
    public var pidFile: String { (serverDir as NSString).appendingPathComponent("server.pid") }
    public var logFile: String { (serverDir as NSString).appendingPathComponent("server.log") }
    public var databasePath: String { (serverDir as NSString).appendingPathComponent("mlflow.db") }
    public var artifactsPath: String { (serverDir as NSString).appendingPathComponent("artifacts") }

    /// What `status` reports.
    public struct Status: Sendable, Equatable, Encodable {
        public var uri: String
        public var running: Bool
        /// The pid recorded by `start`, when that process is alive.
        public var pid: Int32?
        public var version: String?
        public var workDir: String
        public var logFile: String
    }

    func client(timeout: Duration = .seconds(2)) -> MLflowClient {
        // The URI is built here and always valid.
        var client = try! MLflowClient(trackingURI: uri, retry: .none)
        client.requestTimeout = timeout
        return client
    }

    /// Whether something answers `/health` at the server's address.
    public func isAnswering() async -> Bool {
        (try? await client().health()) ?? false
    }

    /// The server this work dir started, when that process still runs: the pidfile holds its
    /// pid, start time (field 22 of /proc/PID/stat) and port. A pid the kernel has given to
    /// another process since, or a pidfile without a start time, names nothing.
    func runningServer() -> (pid: pid_t, port: Int?)? {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8) else { return nil }
        let fields = text.split(whereSeparator: \.isWhitespace)
        guard fields.count >= 2, let pid = Int32(fields[0]), let start = UInt64(fields[1]), pid > 1,
            let stat = ProcFS().stat(pid), stat.state != "Z", stat.startTime == start
        else { return nil }
        return (pid, fields.count >= 3 ? Int(fields[2]) : nil)
    }

    func runningServerPid() -> pid_t? { runningServer()?.pid }

    /// Records the server's pid, start time and port.
    func recordServer(_ pid: pid_t) throws {
        let start = ProcFS().stat(pid)?.startTime ?? 0
        try "\(pid) \(start) \(port)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
    }

    /// The server's state.
    public func status() async -> Status {
        let pid = runningServerPid()
        let version = try? await client().serverVersion()
        return Status(uri: uri, running: version != nil, pid: pid, version: version, workDir: workDir, logFile: logFile)
    }

    /// Starts the server unless one already answers.
    ///
    /// - Returns: true when this call started it.
    /// - Throws: ``GuardianFlowError/unavailable(_:)`` with the log's last lines when it does not
    ///   come up, ``GuardianFlowError/invalidInput(_:)`` when mlflow is not installed.
    @discardableResult
    public func start() async throws -> Bool {
        if await isAnswering() { return false }
        let mlflow = python.script("mlflow")
        guard FileManager.default.isExecutableFile(atPath: mlflow) else {
            throw GuardianFlowError.invalidInput(
                "mlflow is not installed at \(mlflow). Run scripts/setup to create the project venv, "
                    + "or set GUARDIANFLOW_PYTHON to a Python that has mlflow.")
        }
        if let pid = runningServerPid() {
            // A server we started earlier is still coming up, or hung: replace it.
            kill(-pid, SIGKILL)
        }
        try FileManager.default.createDirectory(atPath: artifactsPath, withIntermediateDirectories: true)
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys where key.hasPrefix("MLFLOW_") || key.hasPrefix("AWS_") { environment[key] = nil }
        environment["PYTHONUNBUFFERED"] = "1"
        // MLflow's job runners (eight huey consumers, each importing mlflow) serve GenAI jobs that
        // guardianflow never submits; without them the server starts as two processes, not ten.
        environment["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        let spec = ProcessSpec(
            executable: mlflow,
            arguments: [
                "server", "--backend-store-uri", "sqlite:///\(databasePath)",
                "--artifacts-destination", artifactsPath, "--serve-artifacts",
                "--host", host, "--port", String(port), "--workers", "1",
            ],
            environment: environment, workingDirectory: serverDir,
            stdout: .file(logFile, append: true), stderr: .file(logFile, append: true), grouping: .newSession)
        let child = try ChildProcess.spawn(spec)
        try recordServer(child.pid)

        let clock = ContinuousClock()
        let deadline = clock.now + startTimeout
        var died: ProcessExit?
        while clock.now < deadline {
            if await isAnswering() {
                // Reap it in the background if it ever ends while we still run.
                Task.detached { _ = await child.waitForExit() }
                return true
            }
            // Waiting on the child reaps it the moment it dies, so a server that cannot start
            // is reported at once, not after the whole timeout.
            if let exit = await child.waitForExit(timeout: .milliseconds(250)) {
                died = exit
                break
            }
        }
        kill(-child.pid, SIGKILL)
        try? FileManager.default.removeItem(atPath: pidFile)
        let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        let tail = log.split(separator: "\n").suffix(12).joined(separator: "\n")
        if let died {
            throw GuardianFlowError.unavailable(
                "The local MLflow server exited at start (\(died)). Last lines of \(logFile):\n\(tail)")
        }
        throw GuardianFlowError.unavailable(
            "The local MLflow server did not come up at \(uri) within \(startTimeout). "
                + "Is port \(port) taken (set GUARDIANFLOW_SERVER_PORT)? Last lines of \(logFile):\n\(tail)")
    }

    /// Stops the server this work dir started: SIGTERM to its process group, SIGKILL after `grace`.
    ///
    /// - Returns: the address it served at (the port it was started with, whatever `port` says
    ///   now), or nil when none was running.
    @discardableResult
    public func stop(grace: Duration = .seconds(10)) async -> String? {
        guard let (pid, startedPort) = runningServer() else {
            // Nothing of ours runs (a pid reused since by another process is left alone).
            try? FileManager.default.removeItem(atPath: pidFile)
            return nil
        }
        kill(-pid, SIGTERM)
        await ProcFS().waitUntilGroupEnds(pid, timeout: grace, interval: .milliseconds(100))
        // SIGKILL is delivered asynchronously: wait until no member still runs, so that "stopped"
        // is true when this returns (a zombie left for init to reap runs nothing).
        kill(-pid, SIGKILL)
        await ProcFS().waitUntilGroupEnds(pid, timeout: .seconds(10))
        try? FileManager.default.removeItem(atPath: pidFile)
        return "http://\(host):\(startedPort ?? port)"
    }
}

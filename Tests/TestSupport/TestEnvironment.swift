#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow
import Synchronization

/// Paths and helpers the tests share: the checkout, its venv and the built executable.
public enum TestEnvironment {
    /// The repository root, found from this file's path.
    public static let repoRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The project venv's Python (made by scripts/setup).
    public static var python: String {
        ProcessInfo.processInfo.environment["GUARDIANFLOW_PYTHON"] ?? repoRoot + "/.venv/bin/python"
    }

    /// The guardianflow executable next to the test bundle.
    public static var executable: String {
        let bundle = (CommandLine.arguments.first ?? "") as NSString
        var directory = bundle.deletingLastPathComponent
        // On Linux the runner is <build>/guardianflowPackageTests.xctest.
        if !FileManager.default.fileExists(atPath: directory + "/guardianflow") {
            directory = repoRoot + "/.build/debug"
        }
        return directory + "/guardianflow"
    }

    /// A fresh empty folder under the system temp dir.
    public static func temporaryDirectory(_ label: String = "gf") -> String {
        let path = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// A free TCP port on 127.0.0.1 for a server a test starts.
    ///
    /// Chosen below the kernel's ephemeral range, so it cannot be handed to a socket bound to
    /// port 0 (a `TestHTTPServer`, a client connection) between now and the server's bind;
    /// never the same one twice in a test process.
    public static func freePort() -> Int {
        let lowestEphemeral =
            (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))
            .flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) } } ?? 32768
        let range = 10_000..<max(10_001, min(lowestEphemeral, 32_768))
        for _ in 0..<200 {
            let port = Int.random(in: range)
            let fresh = handedOut.withLock { $0.insert(port).inserted }
            if fresh, canBind(port) { return port }
        }
        return 0
    }

    private static let handedOut = Mutex<Set<Int>>([])

    private static func canBind(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// The environment for a child: this process's, without MLflow/AWS/guardianflow settings
    /// that could leak in from the developer's shell, plus `extra`. `python/` of this checkout
    /// comes first on PYTHONPATH, so every Python a test starts (the CLI's trainer included)
    /// imports this checkout's trainer bridge, also with a venv made for another checkout.
    public static func cleanEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("MLFLOW_") && !$0.key.hasPrefix("AWS_") && !$0.key.hasPrefix("GUARDIANFLOW_")
                && $0.key != "WORK_DIR" && $0.key != "S3_ENDPOINT_URL"
        }
        environment["GUARDIANFLOW_PYTHON"] = python
        environment["PYTHONPATH"] = [repoRoot + "/python", environment["PYTHONPATH"] ?? ""].filter { !$0.isEmpty }
            .joined(separator: ":")
        environment["NO_COLOR"] = "1"
        for (key, value) in extra { environment[key] = value }
        return environment
    }

    /// Records a process group the test suite started, so scripts/test can kill it even if
    /// the test process dies.
    public static func register(pgid: Int32) {
        guard let dir = ProcessInfo.processInfo.environment["GUARDIANFLOW_TEST_PGID_DIR"] else { return }
        try? "".write(toFile: "\(dir)/\(pgid)", atomically: true, encoding: .utf8)
    }

    public static func unregister(pgid: Int32) {
        guard let dir = ProcessInfo.processInfo.environment["GUARDIANFLOW_TEST_PGID_DIR"] else { return }
        try? FileManager.default.removeItem(atPath: "\(dir)/\(pgid)")
    }
}

/// Runs the guardianflow executable.
public enum CLI {
    public struct Result: Sendable {
        public var exitCode: Int32
        public var stdout: String
        public var stderr: String
        public var seconds: Double
    }

    public static func run(
        _ arguments: [String], environment: [String: String], workingDirectory: String? = nil, timeout: Duration = .seconds(120)
    ) async throws -> Result {
        let started = ContinuousClock.now
        let result = try await ChildProcess.run(
            TestEnvironment.executable, arguments, environment: environment, workingDirectory: workingDirectory, timeout: timeout)
        let elapsed = ContinuousClock.now - started
        let code: Int32
        switch result.exit {
        case .exited(let c): code = c
        case .signaled(let s): code = 128 + s
        }
        return Result(
            exitCode: code, stdout: result.stdout, stderr: result.stderr,
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}

/// Runs Python code in the project venv: the official MLflow client and ultralytics.
public enum Python {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Runs `code` and returns its stdout; throws with stderr when it fails.
    public static func run(_ code: String, environment: [String: String] = [:], timeout: Duration = .seconds(120)) async throws -> String {
        let result = try await ChildProcess.run(
            TestEnvironment.python, ["-c", code], environment: TestEnvironment.cleanEnvironment(environment), timeout: timeout)
        guard result.exit.succeeded else {
            throw Failure(description: "python failed (\(result.exit)):\n\(result.stderr.suffix(3000))")
        }
        return result.stdout
    }

    /// Runs `code` and parses the last stdout line as JSON.
    public static func json(_ code: String, environment: [String: String] = [:]) async throws -> Any {
        let out = try await run(code, environment: environment)
        let line = out.split(separator: "\n").last.map(String.init) ?? ""
        return try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
    }
}

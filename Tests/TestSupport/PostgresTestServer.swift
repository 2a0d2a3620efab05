#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow

/// A throwaway PostgreSQL cluster from Debian's packages, started by `scripts/postgres` (which
/// installs them when missing) in a temp dir, in a session of its own; stopped with the cluster.
public final class PostgresTestServer: TestServer {
    public let directory: String
    /// `postgresql+psycopg2://postgres@127.0.0.1:PORT/mlflow`, for `mlflow server --backend-store-uri`.
    public let uri: String
    let pgid: Int32?

    static let script = TestEnvironment.repoRoot + "/scripts/postgres"

    public static func start() async throws -> PostgresTestServer {
        let directory = TestEnvironment.temporaryDirectory("postgres")
        let result = try await ChildProcess.run("/bin/bash", [script, "start", directory + "/cluster"], timeout: .seconds(600))
        guard result.exit == .exited(0), let uri = result.stdout.split(separator: "\n").last.map(String.init), uri.hasPrefix("postgresql") else {
            _ = try? await ChildProcess.run("/bin/bash", [script, "stop", directory + "/cluster"], timeout: .seconds(60))
            throw Python.Failure(description: "scripts/postgres start failed (\(result.exit)):\n\(result.stderr.suffix(3000))")
        }
        // The postmaster leads its own session: scripts/test kills that group if this process dies.
        let pid = (try? String(contentsOfFile: directory + "/cluster/postmaster.pid", encoding: .utf8))?
            .split(separator: "\n").first.flatMap { Int32($0) }
        if let pid { TestEnvironment.register(pgid: pid) }
        return PostgresTestServer(directory: directory, uri: uri, pgid: pid)
    }

    init(directory: String, uri: String, pgid: Int32?) {
        self.directory = directory
        self.uri = uri
        self.pgid = pgid
    }

    public func stop() async {
        _ = try? await ChildProcess.run("/bin/bash", [Self.script, "stop", directory + "/cluster"], timeout: .seconds(60))
        if let pgid {
            kill(-pgid, SIGKILL)
            TestEnvironment.unregister(pgid: pgid)
        }
    }
}

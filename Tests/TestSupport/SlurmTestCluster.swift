import Foundation
import GuardianFlow

/// A one-node Slurm cluster of the test's own (`scripts/slurm start DIR`): munged, slurmctld and
/// slurmd in the foreground as this user, with a config, state and a munge socket in a temp dir, and
/// two GPUs declared in gres.conf (character devices made for it), so `--gpus` is really
/// scheduled. Each daemon's process group is recorded for scripts/test; `stop` ends them and their
/// jobs.
public final class SlurmTestCluster: TestServer {
    public let directory: String
    let pgids: [Int32]
    static let script = TestEnvironment.repoRoot + "/scripts/slurm"

    public static func start(gpus: Int = 2) async throws -> SlurmTestCluster {
        let directory = TestEnvironment.temporaryDirectory("slurm")
        let result = try await ChildProcess.run(
            "/bin/bash", [script, "start", directory, String(gpus)], environment: ProcessInfo.processInfo.environment,
            timeout: .seconds(300))
        var pgids: [Int32] = []
        for name in ["munged", "slurmctld", "slurmd"] {
            if let pid = try? String(contentsOfFile: "\(directory)/\(name).pid", encoding: .utf8),
                let pgid = Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                TestEnvironment.register(pgid: pgid)
                pgids.append(pgid)
            }
        }
        guard result.exit.succeeded else {
            _ = try? await ChildProcess.run("/bin/bash", [script, "stop", directory])
            throw Python.Failure(description: "scripts/slurm start failed (\(result.exit)): \(result.stderr.suffix(3000))")
        }
        return SlurmTestCluster(directory: directory, pgids: pgids)
    }

    init(directory: String, pgids: [Int32]) {
        self.directory = directory
        self.pgids = pgids
    }

    /// What a Slurm command needs in its environment.
    public var environment: [String: String] { ["SLURM_CONF": directory + "/slurm.conf"] }

    /// Runs a Slurm command (`squeue`, `scancel`, …) against this cluster.
    public func command(_ name: String, _ arguments: [String]) async throws -> String {
        var environment = ProcessInfo.processInfo.environment
        environment["SLURM_CONF"] = directory + "/slurm.conf"
        let result = try await ChildProcess.run("/usr/bin/\(name)", arguments, environment: environment, timeout: .seconds(60))
        return result.stdout + result.stderr
    }

    public func stop() async {
        _ = try? await ChildProcess.run("/bin/bash", [Self.script, "stop", directory], timeout: .seconds(60))
        for pgid in pgids { TestEnvironment.unregister(pgid: pgid) }
    }
}

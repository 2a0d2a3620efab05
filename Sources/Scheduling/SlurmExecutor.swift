import Foundation
import GuardianFlowCore
import Logging

/// Queues trainings with Slurm: `sbatch` to submit, `scontrol show job` for their state,
/// `scancel` to stop them. Jobs inherit the submitting environment (`--export=ALL`): the tracking
/// URI and credentials reach the node without being written to the batch script.
public struct SlurmExecutor: TrainingExecutor {
    public let name = "slurm"
    let environment: [String: String]
    let logger: Logger

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger = GuardianFlowLogging.logger("slurm")) {
        self.environment = environment
        self.logger = logger
    }

    /// A Slurm command from PATH.
    ///
    /// - Throws: ``GuardianFlowError/unavailable(_:)`` (69) naming Slurm when it is not there.
    func tool(_ name: String) throws -> String {
        for directory in (environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw GuardianFlowError.unavailable(
            "Slurm's \(name) is not on PATH (\(environment["PATH"] ?? "")): submit, jobs and cancel need Slurm's commands. Run them on a "
                + "machine of the cluster (a login node), or install Slurm's client (Debian: slurm-client) with its slurm.conf.")
    }

    public func checkAvailable() throws {
        for name in ["sbatch", "scontrol", "scancel"] { _ = try tool(name) }
    }

    func run(_ name: String, _ arguments: [String], timeout: Duration = .seconds(60)) async throws -> (
        exit: ProcessExit, stdout: String, stderr: String
    ) {
        let path = try tool(name)
        logger.debug("\(name) \(arguments.joined(separator: " "))")
        return try await ChildProcess.run(path, arguments, environment: environment, timeout: timeout)
    }

    public func submit(_ submission: JobSubmission) async throws -> String {
        _ = try tool("sbatch")
        let manager = FileManager.default
        let script = (submission.directory as NSString).appendingPathComponent("\(submission.runId).sh")
        do {
            try manager.createDirectory(atPath: submission.directory, withIntermediateDirectories: true)
            try submission.script.write(toFile: script, atomically: true, encoding: .utf8)
            try manager.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        } catch {
            throw GuardianFlowError.io("The batch script \(script) cannot be written: \(error.localizedDescription). Check the work dir.")
        }
        let output = (submission.directory as NSString).appendingPathComponent("\(submission.runId)-%j.out")
        let arguments =
            ["--parsable", "--job-name=guardianflow-\(submission.runName)", "--output=\(output)", "--export=ALL"]
            + submission.resources.arguments + [script]
        let result = try await run("sbatch", arguments)
        guard result.exit.succeeded else {
            let message = result.stderr.split(separator: "\n").map { $0.replacingOccurrences(of: "sbatch: error: ", with: "") }
                .joined(separator: "; ")
            throw GuardianFlowError.invalidInput("Slurm refused the job: \(message.isEmpty ? "\(result.exit)" : message)")
        }
        guard let line = result.stdout.split(separator: "\n").last, let id = line.split(separator: ";").first, Int(id) != nil else {
            throw GuardianFlowError.unavailable("sbatch answered no job id: '\(result.stdout.prefix(200))'.")
        }
        return String(id)
    }

    public func status(of jobIds: [String]) async throws -> [String: JobStatus] {
        var out: [String: JobStatus] = [:]
        for id in jobIds {
            let result = try await run("scontrol", ["show", "job", "-o", id])
            if result.exit.succeeded,
                let status = result.stdout.split(separator: "\n").compactMap({ JobStatus(scontrolLine: String($0)) }).first
            {
                out[id] = status
            } else if !result.stderr.contains("Invalid job id") {
                throw GuardianFlowError.unavailable("Slurm did not say what became of job \(id): \(result.stderr.prefix(300))")
            }
        }
        return out
    }

    public func cancel(_ jobId: String) async throws {
        let result = try await run("scancel", [jobId])
        guard result.exit.succeeded else {
            throw GuardianFlowError.unavailable("scancel \(jobId) failed: \(result.stderr.prefix(300))")
        }
    }

    /// Whether the job's time limit is what signals it now: it still runs, and its end is due
    /// within `lead` seconds (a cancelled job is CANCELLED at once).
    public func hittingTimeLimit(jobId: String, lead: TimeInterval) async -> Bool {
        guard let status = try? await status(of: [jobId])[jobId], status.state == "RUNNING", let end = status.endTime else { return false }
        // Slurm may send it up to a minute early (its timers' resolution).
        return end.timeIntervalSinceNow <= lead + 65
    }
}

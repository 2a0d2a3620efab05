import Foundation
import GuardianFlowCore

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a submitted training in the background on this machine, in a session of its own: the
/// executor seam's other side, with no scheduler. Its job id is `<pid>@<start time>`, so a pid
/// reused by another process is not mistaken for it.
public struct LocalExecutor: TrainingExecutor {
    public let name = "local"
    let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public func checkAvailable() throws {}

    public func submit(_ submission: JobSubmission) async throws -> String {
        do {
            try FileManager.default.createDirectory(atPath: submission.directory, withIntermediateDirectories: true)
        } catch {
            throw GuardianFlowError.io("The jobs folder \(submission.directory) cannot be made: \(error.localizedDescription).")
        }
        let output = (submission.directory as NSString).appendingPathComponent("\(submission.runId)-local.out")
        guard let executable = submission.command.first else { throw GuardianFlowError.internal("An empty command to submit.") }
        let child = try ChildProcess.spawn(
            ProcessSpec(
                executable: executable, arguments: Array(submission.command.dropFirst()), environment: environment,
                stdout: .file(output, append: true), stderr: .file(output, append: true), grouping: .newSession))
        let start = ProcFS().stat(child.pid)?.startTime ?? 0
        return "\(child.pid)@\(start)"
    }

    public func status(of jobIds: [String]) async throws -> [String: JobStatus] {
        var out: [String: JobStatus] = [:]
        for id in jobIds {
            let parts = id.split(separator: "@")
            guard parts.count == 2, let pid = Int32(parts[0]), let start = UInt64(parts[1]) else { continue }
            if let stat = ProcFS().stat(pid), stat.startTime == start, !ProcFS().runningMembers(of: pid).isEmpty {
                out[id] = JobStatus(id: id, state: "RUNNING")
            }
        }
        return out
    }

    public func cancel(_ jobId: String) async throws {
        guard let status = try await status(of: [jobId])[jobId], let pid = Int32(status.id.split(separator: "@")[0]) else { return }
        kill(-pid, SIGTERM)
    }
}

import Foundation
import Glibc
import GuardianFlowCore

/// A running training's claim on its run, in the work dir (`leases/<run_id>.json`): which
/// process on which machine holds it. When that process is gone (killed with SIGKILL, the
/// machine rebooted), the run it left RUNNING is a zombie that ``RunRecovery`` ends.
///
/// A process is identified by its pid and its start time (field 22 of /proc/PID/stat), and the
/// machine by its boot id, so a pid reused after the holder died does not keep a lease alive.
public struct RunLease: Codable, Sendable, Equatable {
    public var runId: String
    public var experimentId: String
    public var artifactURI: String
    /// The tracking server, credentials removed.
    public var trackingURI: String
    public var host: String
    public var bootId: String
    public var pid: Int32
    public var processStart: UInt64
    public var createdAt: String
    /// For a lease taken before its run exists (``pending(experimentId:createToken:trackingURI:)``):
    /// the token the run is created with, by which recovery finds it if the holder dies first.
    public var createToken: String?

    /// Whether the run this lease is for may not exist yet: only its create token is known.
    public var isPending: Bool { runId.isEmpty }

    public static func directory(workDir: String) -> String {
        (workDir as NSString).appendingPathComponent("leases")
    }

    static func path(workDir: String, runId: String) -> String {
        "\(directory(workDir: workDir))/\(runId).json"
    }

    /// The file of this lease: `<run_id>.json`, or `pending-<token>.json` before the run exists.
    func path(workDir: String) -> String {
        Self.path(workDir: workDir, runId: isPending ? "pending-\(createToken ?? "")" : runId)
    }

    /// A lease held by this process.
    public static func mine(runId: String, experimentId: String, artifactURI: String, trackingURI: String) -> RunLease {
        let pid = getpid()
        return RunLease(
            runId: runId, experimentId: experimentId, artifactURI: artifactURI, trackingURI: trackingURI,
            host: ProcessInfo.processInfo.hostName, bootId: currentBootId(), pid: pid, processStart: ProcFS().stat(pid)?.startTime ?? 0,
            createdAt: Date().formatted(.iso8601))
    }

    /// A lease held by this process on the run it is about to create with `createToken`: taken
    /// first, so that a run this process creates and then dies before leasing is still reaped.
    public static func pending(experimentId: String, createToken: String, trackingURI: String) -> RunLease {
        var lease = mine(runId: "", experimentId: experimentId, artifactURI: "", trackingURI: trackingURI)
        lease.createToken = createToken
        return lease
    }

    /// Gives up this lease's file.
    public func release(workDir: String) {
        try? FileManager.default.removeItem(atPath: path(workDir: workDir))
    }

    /// Writes the lease (replacing one of an earlier process for the same run).
    public func write(workDir: String) throws {
        try FileManager.default.createDirectory(atPath: Self.directory(workDir: workDir), withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        do {
            try encoder.encode(self).write(to: URL(fileURLWithPath: path(workDir: workDir)), options: .atomic)
        } catch {
            throw GuardianFlowError.io(
                "Cannot write the run's lease \(path(workDir: workDir)): \(error.localizedDescription). \(RunJournal.diskHint)")
        }
    }

    /// Gives the lease up (the run has ended).
    public static func release(workDir: String, runId: String) {
        try? FileManager.default.removeItem(atPath: path(workDir: workDir, runId: runId))
    }

    /// Every lease in a work dir; unreadable files are skipped.
    public static func all(workDir: String) -> [RunLease] {
        let directory = directory(workDir: workDir)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().compactMap {
            guard let data = FileManager.default.contents(atPath: "\(directory)/\($0)") else { return nil }
            return try? JSONDecoder().decode(RunLease.self, from: data)
        }
    }

    /// Whether the lease is held by a process of another machine (so it cannot be judged here).
    public var isForeign: Bool {
        host != ProcessInfo.processInfo.hostName
    }

    /// Whether the process holding it still runs: same boot, the pid alive, the same start time.
    public var holderIsAlive: Bool {
        guard !isForeign else { return true }
        guard bootId == Self.currentBootId() else { return false }
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = ProcFS().stat(pid), stat.state != "Z" else { return false }
        return stat.startTime == processStart || processStart == 0
    }

    static func currentBootId() -> String {
        ((try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

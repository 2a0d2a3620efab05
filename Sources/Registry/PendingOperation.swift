import Foundation
import GuardianFlowCore
import MLflow

/// An operation started but not yet finished, kept on the registered model
/// (`guardianflow.pending`) with who runs it, so that running the command again after a crash
/// finishes it, while an operation another live process is still carrying out is left alone.
struct PendingOperation: Codable, Sendable, Equatable {
    static let tagKey = "guardianflow.pending"

    var entry: HistoryEntry
    var host: String
    var pid: Int32
    /// Unique per process, so a reused pid is not mistaken for the owner.
    var nonce: String

    /// This process's identity.
    static let currentNonce = UUID().uuidString

    init(entry: HistoryEntry) {
        self.entry = entry
        host = ProcessInfo.processInfo.hostName
        pid = ProcessInfo.processInfo.processIdentifier
        nonce = Self.currentNonce
    }

    func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    static func decode(_ text: String?) -> PendingOperation? {
        guard let text else { return nil }
        return try? JSONDecoder().decode(PendingOperation.self, from: Data(text.utf8))
    }

    /// Whether the process that started it may still be carrying it out: another process on
    /// this host that is alive, or one elsewhere that started it less than two minutes ago.
    func mayBeInFlight(now: Date) -> Bool {
        if nonce == Self.currentNonce { return false }
        if host == ProcessInfo.processInfo.hostName { return processIsAlive(pid) }
        return Double(mlflowTimestamp(now) - entry.timestamp) < 120_000
    }
}

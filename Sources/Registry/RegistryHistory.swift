import Foundation
import GuardianFlowCore
import MLflow

/// One promote or rollback, as recorded on the registered model.
///
/// Each entry is a registered-model tag of its own, `guardianflow.history.<ms>.<id>` = JSON, so
/// concurrent writers never overwrite each other and any MLflow client can read the history.
public struct HistoryEntry: Codable, Sendable, Equatable {
    public enum Action: String, Codable, Sendable {
        case promote, rollback
    }

    /// Unique per operation; a re-run that finishes a crashed operation reuses it.
    public var id: String
    public var action: Action
    /// The version that became champion.
    public var version: String
    /// The champion it replaced, if any.
    public var from: String?
    /// Where the rollback alias pointed afterwards, if anywhere.
    public var rollback: String?
    public var by: String
    /// ISO 8601.
    public var at: String
    /// Milliseconds since the epoch, for ordering.
    public var timestamp: Int64
    public var reason: String?
    /// The gate was skipped with --force.
    public var forced: Bool
    public var metric: String?
    public var value: Double?
    public var championValue: Double?

    enum CodingKeys: String, CodingKey {
        case id, action, version, from, rollback, by, at, timestamp, reason, forced, metric, value
        case championValue = "champion_value"
    }

    public static let tagPrefix = "guardianflow.history."

    /// The registered-model tag key of this entry.
    public var tagKey: String {
        Self.tagPrefix + String(format: "%013lld", timestamp) + "." + id
    }

    public func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// The entries among a registered model's tags, newest first.
    public static func entries(fromTags tags: [String: String]) -> [HistoryEntry] {
        tags.filter { $0.key.hasPrefix(tagPrefix) }
            .sorted { $0.key > $1.key }
            .compactMap { try? JSONDecoder().decode(HistoryEntry.self, from: Data($0.value.utf8)) }
    }
}

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

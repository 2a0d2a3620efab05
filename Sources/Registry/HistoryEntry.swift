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

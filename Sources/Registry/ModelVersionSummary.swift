import Foundation
import MLflow

/// A version as `models show` and `list versions` present it.
public struct ModelVersionSummary: Sendable, Equatable, Encodable {
    public var name: String
    public var version: String
    public var aliases: [String]
    public var status: String
    public var runId: String
    public var source: String
    public var createdAt: Int64?
    public var tags: [String: String]

    init(version: ModelVersion, aliases: [String]) {
        name = version.name
        self.version = version.version
        self.aliases = aliases
        status = version.status
        runId = version.runId
        source = version.source
        createdAt = version.creationTimestamp
        tags = version.tags
    }

    enum CodingKeys: String, CodingKey {
        case name, version, aliases, status, runId = "run_id", source, createdAt = "creation_timestamp", tags
    }
}

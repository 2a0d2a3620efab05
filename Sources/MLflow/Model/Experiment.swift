import Foundation

/// An MLflow experiment.
public struct Experiment: Decodable, Sendable, Equatable {
    public var experimentId: String
    public var name: String
    public var artifactLocation: String
    /// `active` or `deleted`.
    public var lifecycleStage: String
    public var creationTime: Int64?
    public var lastUpdateTime: Int64?
    public var tags: [String: String]

    public var isDeleted: Bool { lifecycleStage == "deleted" }

    enum CodingKeys: String, CodingKey {
        case experimentId = "experiment_id", name, artifactLocation = "artifact_location"
        case lifecycleStage = "lifecycle_stage", creationTime = "creation_time"
        case lastUpdateTime = "last_update_time", tags
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        experimentId = try c.string(.experimentId) ?? ""
        name = try c.string(.name) ?? ""
        artifactLocation = try c.string(.artifactLocation) ?? ""
        lifecycleStage = try c.string(.lifecycleStage) ?? "active"
        creationTime = try c.int64(.creationTime)
        lastUpdateTime = try c.int64(.lastUpdateTime)
        tags = try c.list(.tags, of: KeyValue.self).dictionary
    }
}

/// Which experiments or runs a search includes.
public enum ViewType: String, Sendable {
    case activeOnly = "ACTIVE_ONLY"
    case deletedOnly = "DELETED_ONLY"
    case all = "ALL"
}

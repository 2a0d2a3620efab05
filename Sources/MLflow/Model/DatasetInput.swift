import Foundation

/// A dataset a run used, as MLflow records it (`runs/log-inputs`): the run page's Datasets
/// section and `search_runs`' `dataset.*` filters read these.
public struct DatasetInput: Sendable, Equatable {
    /// MLflow's tag for what the run used the dataset for.
    public static let contextTag = "mlflow.data.context"

    /// The dataset's name, at most 500 characters.
    public var name: String
    /// A short content hash, at most 36 characters: MLflow stores one dataset per (name, digest).
    public var digest: String
    /// Where it lives, as MLflow names source kinds: `local`, `s3`, `http`, …
    public var sourceType: String
    /// The source as JSON, e.g. `{"uri": "/data/site-a"}`.
    public var source: String
    /// A JSON summary (counts, class names); optional.
    public var profile: String?
    /// A JSON schema; optional.
    public var schema: String?
    /// The input's tags, such as ``contextTag`` = `training`.
    public var tags: [String: String]

    public init(
        name: String, digest: String, sourceType: String, source: String, profile: String? = nil, schema: String? = nil,
        tags: [String: String] = [:]
    ) {
        self.name = name
        self.digest = digest
        self.sourceType = sourceType
        self.source = source
        self.profile = profile
        self.schema = schema
        self.tags = tags
    }

    var json: JSONValue {
        var dataset: [String: JSONValue] = [
            "name": .string(name), "digest": .string(digest), "source_type": .string(sourceType), "source": .string(source),
        ]
        if let profile { dataset["profile"] = .string(profile) }
        if let schema { dataset["schema"] = .string(schema) }
        return [
            "dataset": .object(dataset),
            "tags": .array(tags.sorted { $0.key < $1.key }.map { ["key": .string($0.key), "value": .string($0.value)] }),
        ]
    }
}

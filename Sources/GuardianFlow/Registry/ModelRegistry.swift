import Foundation
import MLflow

/// The model registry as guardianflow uses it: versions made from runs' weights, and the
/// aliases `candidate`, `champion` and `rollback`.
public struct ModelRegistry: Sendable {
    public static let candidate = "candidate"
    public static let champion = "champion"
    public static let rollback = "rollback"

    public let client: MLflowClient

    public init(client: MLflowClient) {
        self.client = client
    }

    /// Registers a run's artifact folder as a new version, waits until it is READY and points
    /// `alias` at it.
    ///
    /// - Parameters:
    ///   - artifactPath: the folder under the run's artifact root (`weights`).
    ///   - tags: version tags (customer, task, weights.sha256, best metrics …).
    public func register(
        runId: String, artifactPath: String = "weights", modelName: String, alias: String? = ModelRegistry.candidate,
        tags: [String: String] = [:]
    ) async throws -> ModelInfo {
        let run = try await client.getRun(id: runId)
        _ = try await client.getOrCreateRegisteredModel(name: modelName)
        let source = run.info.artifactURI + "/" + artifactPath
        let created = try await client.createModelVersion(name: modelName, source: source, runId: runId, tags: tags)
        try await client.waitUntilReady(name: modelName, version: created.version)
        if let alias {
            try await client.setAlias(name: modelName, alias: alias, version: created.version)
        }
        return ModelInfo(name: modelName, version: created.version, alias: alias, source: source, runId: runId)
    }

    /// `models:/<name>@champion`: what deployment reads.
    public func championURI(modelName: String) -> String {
        "models:/\(modelName)@\(Self.champion)"
    }
}

import Foundation
import GuardianFlowCore
import MLflow
import S3

/// The model registry as guardianflow uses it: versions made from runs' weights, the aliases
/// `candidate`, `champion` and `rollback`, a gate on promotion, and an audit history that any
/// MLflow client can read.
public struct ModelRegistry: Sendable {
    public static let candidate = "candidate"
    public static let champion = "champion"
    public static let rollback = "rollback"

    public let client: MLflowClient
    /// Who is recorded as having promoted or rolled back (`user@host`).
    public var actor: String
    /// Called with a step's name before each write of a promote or rollback: the seam through
    /// which the package's tests simulate a crash between two writes.
    let beforeWrite: @Sendable (String) throws -> Void
    /// The clock for audit times.
    public var now: @Sendable () -> Date
    /// The S3 store, for versions whose weights are at `s3://` (pull).
    public var s3: S3Configuration?

    public init(client: MLflowClient, s3: S3Configuration? = nil, actor: String? = nil, now: @escaping @Sendable () -> Date = { Date() }) {
        self.init(client: client, s3: s3, actor: actor, beforeWrite: { _ in }, now: now)
    }

    /// A registry that calls `beforeWrite` with each step's name before the step writes (the
    /// package's tests throw from it to crash a promote between two writes).
    package init(
        client: MLflowClient, s3: S3Configuration? = nil, actor: String? = nil,
        beforeWrite: @escaping @Sendable (String) throws -> Void, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.client = client
        self.s3 = s3
        self.actor = actor ?? Self.defaultActor()
        self.beforeWrite = beforeWrite
        self.now = now
    }

    static func defaultActor() -> String {
        let user = ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
        return "\(user)@\(ProcessInfo.processInfo.hostName)"
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
        // Registering again (a finish repeated by `guardianflow sync`) reuses the run's version.
        let quoted = { (text: String) in "'\(text.replacingOccurrences(of: "'", with: "\\'"))'" }
        let existing = try await client.searchModelVersions(filter: "name=\(quoted(modelName)) and run_id=\(quoted(runId))").versions
            .first { $0.source == source }
        let created: ModelVersion
        if let existing {
            created = existing
            for (key, value) in tags where existing.tags[key] != value {
                try await client.setModelVersionTag(name: modelName, version: existing.version, key: key, value: value)
            }
        } else {
            created = try await client.createModelVersion(name: modelName, source: source, runId: runId, tags: tags)
        }
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

    /// The registered model, or a registry-state error naming the models that exist.
    func model(named name: String) async throws -> RegisteredModel {
        if let model = try await client.getRegisteredModel(name: name) { return model }
        let names = try await client.allRegisteredModels().map(\.name)
        throw GuardianFlowError.registryState(
            "There is no registered model '\(name)'. "
                + (names.isEmpty ? "The registry is empty; train one first." : "Models: \(names.prefix(20).joined(separator: ", ")).")
        )
    }

    /// One version, or a registry-state error naming the versions that exist.
    func version(_ version: String, of model: String) async throws -> ModelVersion {
        do {
            return try await client.getModelVersion(name: model, version: version)
        } catch let error as MLflowError where error.isNotFound || error.errorCode == "INVALID_PARAMETER_VALUE" {
            let versions = try await client.allModelVersions(name: model).map(\.version)
            throw GuardianFlowError.registryState(
                "Model '\(model)' has no version \(version). Versions: \(versions.isEmpty ? "none" : versions.joined(separator: ", ")).")
        }
    }

    /// The version a reference points at.
    public func resolve(_ reference: ModelReference) async throws -> ModelVersion {
        let registered = try await model(named: reference.name)
        switch reference.selector {
        case .version(let number):
            return try await version(number, of: reference.name)
        case .alias(let alias):
            guard let number = registered.aliases[alias] else {
                let known = registered.aliases.sorted { $0.key < $1.key }.map { "@\($0.key)=\($0.value)" }.joined(separator: ", ")
                throw GuardianFlowError.registryState(
                    "Model '\(reference.name)' has no @\(alias). Aliases: \(known.isEmpty ? "none" : known).")
            }
            return try await version(number, of: reference.name)
        }
    }

    /// Every version, newest first, with its aliases.
    public func listVersions(modelName: String) async throws -> [ModelVersionSummary] {
        let registered = try await model(named: modelName)
        let versions = try await client.allModelVersions(name: modelName)
        let aliasesByVersion = Dictionary(grouping: registered.aliases, by: \.value).mapValues { $0.map(\.key).sorted() }
        return versions.map { ModelVersionSummary(version: $0, aliases: aliasesByVersion[$0.version] ?? []) }
    }

    /// The promote/rollback history, newest first.
    public func history(modelName: String) async throws -> [HistoryEntry] {
        HistoryEntry.entries(fromTags: try await model(named: modelName).tags)
    }

    /// A version's value of a metric: its version tag, else the run's latest value; nil when
    /// neither exists (or the run was deleted). Other errors reach the caller.
    func metricValue(_ metric: String, of version: ModelVersion) async throws -> Double? {
        if let tag = version.tags[metric], let value = Double(tag) { return value }
        guard !version.runId.isEmpty else { return nil }
        do {
            return try await client.getRun(id: version.runId).metric(metric)
        } catch let error as MLflowError where error.isNotFound {
            return nil
        }
    }
}

import Artifacts
import Config
import Foundation
import GuardianFlowCore
import MLflow
import Registry

/// Ends a run from a plan: FINISHED with its artifacts and a model version (``FinishPlan``), or
/// FAILED/KILLED with the files worth keeping (``EndPlan``). Used by a training that reaches its
/// end and by `guardianflow sync` for one whose process could not.
///
/// Finishing can be repeated: uploads overwrite, and the version of a run that was registered
/// already is reused rather than registered twice.
package struct RunFinisher: Sendable {
    let client: MLflowClient
    let store: any ArtifactStore
    var progress: @Sendable (String) -> Void = { _ in }

    /// - Throws: ``GuardianFlowError`` when the run's artifact store cannot be used from here (an
    ///   `s3://` store without S3 settings, a scheme guardianflow cannot write): nothing is written
    ///   anywhere, so the plan waits for a `sync` that has the settings.
    package init(client: MLflowClient, artifactURI: String, settings: Settings, progress: @escaping @Sendable (String) -> Void = { _ in }) throws {
        self.client = client
        self.store = try ArtifactStores.forArtifactURI(artifactURI, client: client, s3: settings.s3Configuration)
        self.progress = progress
    }

    /// Uploads, registers, tags, and ends the run FINISHED.
    ///
    /// - Returns: the model version and best.pt's SHA-256.
    package func finish(_ plan: FinishPlan) async throws -> (model: ModelInfo, weightsSHA256: String) {
        progress("uploading artifacts")
        let uploaded = try await uploadArtifacts(plan)
        guard let bestSHA = uploaded["weights/best.pt"] else {
            throw GuardianFlowError.trainingFailed("Training finished without weights/best.pt in \(plan.saveDir).")
        }
        progress("registering the model")
        var tags = plan.versionTags
        tags["weights.sha256"] = bestSHA
        let model = try await ModelRegistry(client: client).register(
            runId: plan.runId, artifactPath: "weights", modelName: plan.modelName, alias: plan.alias, tags: tags)
        try await client.logBatch(
            runId: plan.runId,
            tags: [
                KeyValue(key: "weights.sha256", value: bestSHA), KeyValue(key: "guardianflow.model_name", value: model.name),
                KeyValue(key: "guardianflow.model_version", value: model.version),
            ])
        try await client.updateRun(runId: plan.runId, status: .finished, endTime: mlflowTimestamp())
        return (model, bestSHA)
    }

    /// Uploads the run's files with their SHA-256 recorded in `guardianflow/manifest.json`.
    ///
    /// - Returns: artifact path → SHA-256.
    func uploadArtifacts(_ plan: FinishPlan) async throws -> [String: String] {
        var files: [(local: String, path: String)] = []
        let manager = FileManager.default
        let weights = (plan.saveDir as NSString).appendingPathComponent("weights")
        for name in ["best.pt", "last.pt"] where manager.fileExists(atPath: "\(weights)/\(name)") {
            files.append(("\(weights)/\(name)", "weights/\(name)"))
        }
        for name in ["results.csv", "args.yaml"] where manager.fileExists(atPath: "\(plan.saveDir)/\(name)") {
            files.append(("\(plan.saveDir)/\(name)", name))
        }
        let entries = (try? manager.contentsOfDirectory(atPath: plan.saveDir)) ?? []
        for name in entries.sorted() where ["png", "jpg", "jpeg"].contains((name as NSString).pathExtension.lowercased()) {
            files.append(("\(plan.saveDir)/\(name)", "plots/\(name)"))
        }
        if manager.fileExists(atPath: plan.logFile) { files.append((plan.logFile, "logs/train.log")) }
        return try await upload(files, manifestFile: plan.manifestFile)
    }

    /// Uploads files (four at a time) and then `guardianflow/manifest.json`, written to
    /// `manifestFile` first: artifact path → its SHA-256 and size.
    ///
    /// - Returns: artifact path → SHA-256.
    package func upload(_ files: [(local: String, path: String)], manifestFile: String) async throws -> [String: String] {
        let store = self.store
        let digests = try await withThrowingTaskGroup(of: (String, String, Int64).self) { group in
            var running = 0
            var results: [String: (String, Int64)] = [:]
            for file in files {
                if running == 4, let (path, sha, size) = try await group.next() {
                    results[path] = (sha, size)
                    running -= 1
                }
                group.addTask {
                    // S3 hashes while it uploads; the other stores need a pass of their own.
                    let computed = try await store.upload(file: file.local, to: file.path)
                    let sha = try computed ?? FileDigest.sha256(ofFile: file.local)
                    return (file.path, sha, Self.fileSize(file.local) ?? 0)
                }
                running += 1
            }
            for try await (path, sha, size) in group { results[path] = (sha, size) }
            return results
        }
        let manifest = digests.mapValues { ["sha256": $0.0, "size": String($0.1)] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(manifest).write(to: URL(fileURLWithPath: manifestFile))
        try await store.upload(file: manifestFile, to: "guardianflow/manifest.json")
        return digests.mapValues(\.0)
    }

    /// What an ``end(_:)`` did with the plan's files.
    package struct EndOutcome: Sendable, Equatable {
        /// Artifact paths that were uploaded.
        package var uploaded: Set<String> = []
        /// Artifact path → why it is not among the artifacts although its file exists here.
        package var missing: [String: String] = [:]
    }

    /// Ends a run FAILED or KILLED: its files uploaded where they exist, its tags, its status.
    ///
    /// An upload that fails for a reason that may pass (the store does not answer, refused
    /// credentials the user can fix, a stop) throws, so the plan stays for the next
    /// `guardianflow sync`; one that cannot pass (a file that cannot be read, a store that refuses
    /// the object) is named in the tag `guardianflow.missing_artifacts` and the run ends all the
    /// same. No file is ever claimed that is not among the run's artifacts.
    @discardableResult
    package func end(_ plan: EndPlan) async throws -> EndOutcome {
        var outcome = EndOutcome()
        for (local, path) in plan.uploads.sorted(by: { $0.key < $1.key }) where FileManager.default.fileExists(atPath: local) {
            do {
                try await store.upload(file: local, to: path)
                outcome.uploaded.insert(path)
            } catch {
                let wrapped = GuardianFlowError.wrap(error)
                if [69, 77, 130, 143].contains(wrapped.exitCode) { throw wrapped }
                outcome.missing[path] = wrapped.description
            }
        }
        var tags = plan.tags
        if !outcome.missing.isEmpty {
            let listed = outcome.missing.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: "; ")
            tags.append(KeyValue(key: "guardianflow.missing_artifacts", value: "not uploaded: " + listed))
        }
        if !tags.isEmpty { try await client.logBatch(runId: plan.runId, tags: tags) }
        try await client.updateRun(runId: plan.runId, status: RunStatus(rawValue: plan.status) ?? .failed, endTime: plan.endTime)
        return outcome
    }

    package static func fileSize(_ path: String) -> Int64? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
    }
}

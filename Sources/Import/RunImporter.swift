import Artifacts
import Config
import Delivery
import Foundation
import GuardianFlowCore
import Logging
import MLflow
import Registry

/// Writes an ``ImportedRun`` to MLflow, once: a run already imported (found by its origin tag,
/// whatever its folder's path today) is left as it is, grown by its new epochs, or replaced when
/// its rows were rewritten or an earlier import of it was interrupted.
///
/// The order makes an interruption safe: the run is created tagged `partial` (and with its real
/// start time), then its params and metrics, its files and its model version, and only then is it
/// tagged `complete` and given its status and end time. A run left `partial` is replaced by the
/// next import. One run's import holds a lock in the work dir, so two imports of the same folder
/// at once leave one run.
public struct RunImporter: Sendable {
    let client: MLflowClient
    let settings: Settings
    let options: ImportOptions
    let logger: Logger

    public init(client: MLflowClient, settings: Settings, options: ImportOptions, logger: Logger = GuardianFlowLogging.logger("import")) {
        self.client = client
        self.settings = settings
        self.options = options
        self.logger = logger
    }

    /// What an import does with a run, given the runs already imported from its origin.
    public enum Decision: Equatable, Sendable {
        case create
        case unchanged(runId: String)
        /// Append the rows from `fromRow` on (none when only the status, files or registration changed).
        case append(runId: String, fromRow: Int)
        case replace(runIds: [String], reason: String)
        /// An older state of a run imported since it grew (`rows` rows): left as it is.
        case olderCopy(runId: String, rows: Int)
    }

    /// The runs of `experimentIds` (all experiments when nil) imported from each origin, active ones only.
    public func importedRuns(experimentIds: [String]? = nil, origin: String? = nil) async throws -> [String: [Run]] {
        var ids = experimentIds ?? []
        if experimentIds == nil { ids = try await client.allExperiments().map(\.experimentId) }
        guard !ids.isEmpty else { return [:] }
        let filter =
            origin.map { "tags.`\(ImportTags.origin)` = '\($0)'" } ?? "tags.`\(ImportTags.origin)` LIKE '%'"
        var byOrigin: [String: [Run]] = [:]
        for run in try await client.allRuns(experimentIds: ids, filter: filter) {
            if let key = run.tags[ImportTags.origin] { byOrigin[key, default: []].append(run) }
        }
        return byOrigin
    }

    public static func decide(_ run: ImportedRun, existing: [Run], register: Bool = false) -> Decision {
        guard let old = existing.first else { return .create }
        if existing.count > 1 {
            return .replace(runIds: existing.map(\.info.runId), reason: "\(existing.count) runs came from this folder")
        }
        guard old.tags[ImportTags.state] == "complete" else {
            return .replace(
                runIds: [old.info.runId], reason: "an earlier import of it was interrupted (its run \(old.info.runId) is partial)")
        }
        let oldRows = old.tags[ImportTags.rows].flatMap { Int($0) } ?? -1
        let oldFirst = old.tags[ImportTags.firstRow].flatMap { Int($0) } ?? -1
        let needsVersion = register && run.status == .finished && run.hasBestWeights && old.tags["guardianflow.model_version"] == nil
        if old.tags[ImportTags.content] == run.content {
            return needsVersion ? .append(runId: old.info.runId, fromRow: run.rowCount) : .unchanged(runId: old.info.runId)
        }
        if oldRows >= 0, oldRows <= run.rowCount, oldFirst == run.firstRow, old.tags[ImportTags.rowsDigest] == run.rowsDigest(oldRows) {
            return .append(runId: old.info.runId, fromRow: oldRows)
        }
        if oldRows > run.rowCount, oldFirst == run.firstRow {
            // The same training (its first epoch and save_dir) with fewer rows: an older copy of a
            // folder that has grown since. MLflow keeps the longer history.
            return .olderCopy(runId: old.info.runId, rows: oldRows)
        }
        return .replace(runIds: [old.info.runId], reason: "its results.csv was rewritten since it was imported")
    }

    /// Imports one run into `experiment`.
    ///
    /// - Throws: what MLflow or the artifact store answered; a run created by this call is then
    ///   left `partial` and KILLED, for the next import to replace.
    public func importRun(_ run: ImportedRun, experiment: Experiment) async throws -> ImportResult {
        try Task.checkCancellation()
        let lock = try await ImportLock.acquire(
            directory: (settings.workDir as NSString).appendingPathComponent("locks"),
            key: "import-" + ImportedRun.sha256(experiment.experimentId + "\n" + run.origin).prefix(32))
        defer { lock.release() }
        let existing = try await importedRuns(experimentIds: [experiment.experimentId], origin: run.origin)[run.origin] ?? []
        let decision = Self.decide(run, existing: existing, register: options.register)
        logger.debug("\(run.folder.path): \(decision)")
        switch decision {
        case .unchanged(let runId):
            return ImportResult(path: run.folder.path, outcome: .unchanged, runId: runId, status: run.status)
        case .olderCopy(let runId, let rows):
            return ImportResult(
                path: run.folder.path, outcome: .unchanged, runId: runId,
                detail: "an older copy: its run holds \(rows) rows of results.csv, this folder \(run.rowCount); left as it is")
        case .create:
            return try await create(run, experimentId: experiment.experimentId, outcome: .created, detail: nil)
        case .replace(let runIds, let reason):
            for runId in runIds { try await client.deleteRun(runId: runId) }
            return try await create(run, experimentId: experiment.experimentId, outcome: .replaced, detail: reason)
        case .append(let runId, let fromRow):
            let old = try await client.getRun(id: runId)
            try await client.setTag(runId: runId, key: ImportTags.state, value: "partial")
            let newParams = run.params.filter { old.params[$0.key] == nil }
            var result = try await write(run, runId: runId, artifactURI: old.info.artifactURI, fromRow: fromRow, params: newParams)
            result.outcome = result.epochsWritten > 0 ? .appended : .updated
            if newParams.count < run.params.count {
                let changed = run.params.filter { old.params[$0.key] != nil && old.params[$0.key] != $0.value }.map(\.key)
                if !changed.isEmpty {
                    logger.debug(
                        "\(run.folder.path): params \(changed.joined(separator: ", ")) changed since; MLflow keeps a param's first value.")
                }
            }
            return result
        }
    }

    func create(_ run: ImportedRun, experimentId: String, outcome: ImportResult.Outcome, detail: String?) async throws -> ImportResult {
        var tags = tags(run)
        tags[ImportTags.state] = "partial"
        // Not cancelled midway: a stop after the server made the run but before its answer came
        // would leave it RUNNING with no one to end it. `write` checks for a stop first.
        let (client, name, start, made) = (self.client, run.folder.name, run.timeline.start, tags)
        let info = try await Task.detached {
            try await client.createRun(experimentId: experimentId, runName: name, startTime: start, tags: made)
        }.value
        var result = try await write(run, runId: info.runId, artifactURI: info.artifactURI, fromRow: 0, params: run.params)
        result.outcome = outcome
        result.detail = detail
        return result
    }

    /// Writes the epochs from `fromRow` on, the params given, the files and the version, then
    /// marks the run complete with its status and end.
    func write(_ run: ImportedRun, runId: String, artifactURI: String, fromRow: Int, params: [KeyValue]) async throws -> ImportResult {
        do {
            try Task.checkCancellation()
            let epochs = run.epochs.filter { $0.row >= fromRow }
            var metrics: [Metric] = []
            for epoch in epochs {
                for (key, value) in epoch.metrics.sorted(by: { $0.key < $1.key }) {
                    metrics.append(Metric(key: key, value: value, timestamp: epoch.timestamp, step: epoch.step))
                }
            }
            if !epochs.isEmpty {
                for (key, value) in run.best.sorted(by: { $0.key < $1.key }) {
                    metrics.append(Metric(key: "best/" + key, value: value, timestamp: run.timeline.end, step: Int64(run.lastEpoch)))
                }
            }
            let secrets = settings.secretValues
            let scrubbed = params.map { KeyValue(key: $0.key, value: Redaction.scrub($0.value, secrets: secrets)) }
            try await client.logBatch(runId: runId, metrics: metrics, params: scrubbed, concurrency: 2)

            try Task.checkCancellation()
            var finalTags = tags(run)
            var model: ModelInfo?
            if options.uploadArtifacts && !run.artifacts.isEmpty {
                let finisher = try RunFinisher(client: client, artifactURI: artifactURI, settings: settings)
                let folder = (settings.workDir as NSString).appendingPathComponent("import")
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                let manifest = (folder as NSString).appendingPathComponent("\(runId).manifest.json")
                defer { try? FileManager.default.removeItem(atPath: manifest) }
                let digests = try await finisher.upload(run.artifacts, manifestFile: manifest)
                if options.register, run.status == .finished, let sha = digests["weights/best.pt"] {
                    var versionTags = versionTags(run, runId: runId)
                    versionTags["weights.sha256"] = sha
                    model = try await ModelRegistry(client: client).register(
                        runId: runId, artifactPath: "weights", modelName: options.registeredModelName, alias: nil, tags: versionTags)
                    finalTags["weights.sha256"] = sha
                }
            }
            if let model {
                finalTags["guardianflow.model_name"] = model.name
                finalTags["guardianflow.model_version"] = model.version
            }
            try Task.checkCancellation()
            finalTags[ImportTags.state] = "complete"
            // The end, once begun, is not cancelled midway: `complete` and the status go together.
            let (client, status, end) = (self.client, run.status, run.timeline.end)
            let completed = finalTags.sorted { $0.key < $1.key }.map { KeyValue(key: $0.key, value: $0.value) }
            try await Task.detached {
                try await client.logBatch(runId: runId, tags: completed)
                try await client.updateRun(runId: runId, status: status, endTime: end)
            }.value
            var result = ImportResult(path: run.folder.path, outcome: .created, runId: runId, status: run.status)
            result.epochsWritten = epochs.count
            result.model = model.map { ($0.name, $0.version) }
            return result
        } catch {
            // Left partial (the next import replaces it), and never RUNNING.
            let client = self.client
            let end = run.timeline.end
            _ = await Task.detached { try? await client.updateRun(runId: runId, status: .killed, endTime: end) }.value
            throw error
        }
    }

    /// The run's tags: as `train` tags a run, plus where it came from.
    func tags(_ run: ImportedRun) -> [String: String] {
        var tags: [String: String] = [
            "mlflow.user": ProcessInfo.processInfo.environment["USER"] ?? NSUserName(),
            "mlflow.source.type": "LOCAL",
            "mlflow.source.name": "guardianflow import",
            "host": ProcessInfo.processInfo.hostName,
            "guardianflow.version": GuardianFlowInfo.version,
            "guardianflow.save_dir": run.savedAs ?? run.folder.path,
            ImportTags.origin: run.origin,
            ImportTags.content: run.content,
            ImportTags.rows: String(run.rowCount),
            ImportTags.rowsDigest: run.rowsDigest(run.rowCount),
            ImportTags.firstRow: String(run.firstRow),
            ImportTags.path: run.folder.path,
            ImportTags.format: run.folder.format.rawValue,
            ImportTags.importedAt: ISO8601DateFormatter().string(from: Date()),
            ImportTags.times: run.timeline.sourceTag,
            ImportTags.statusReason: run.statusReason,
        ]
        if let model = run.model { tags["model_arch"] = model }
        if let data = run.data { tags["dataset"] = data }
        if let version = run.ultralyticsVersion { tags["ultralytics.version"] = version }
        if let customer = options.customer { tags["customer"] = customer }
        if let task = options.task { tags["task"] = task }
        if run.firstRow > 0 {
            tags["guardianflow.import.earlier_rows"] =
                "\(run.firstRow) rows of results.csv are an earlier training in the same folder (its epochs started again at 1): kept in results.csv, not as metrics"
        }
        return tags
    }

    /// The version's tags, as `train` tags its versions.
    func versionTags(_ run: ImportedRun, runId: String) -> [String: String] {
        var tags: [String: String] = ["guardianflow.run_id": runId, "guardianflow.imported_from": run.folder.path]
        if let model = run.model { tags["model_arch"] = model }
        if let data = run.data { tags["dataset"] = data }
        if let customer = options.customer { tags["customer"] = customer }
        if let task = options.task { tags["task"] = task }
        for (key, value) in run.best { tags["best/" + key] = String(format: "%.6g", value) }
        return tags
    }
}

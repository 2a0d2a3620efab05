import Config
import Foundation
import GuardianFlowCore
import Logging
import MLflow

/// `guardianflow import` from start to end: find the run folders, read each whole (skipping, and
/// reporting, those whose files are damaged), then survey them or import them, several at once.
public struct RunImport: Sendable {
    /// The folders read: the runs, and those skipped with the reason.
    public struct Reading: Sendable {
        public var runs: [ImportedRun]
        public var skipped: [ImportResult]
    }

    /// Finds and reads every run under `paths`. Nothing is written anywhere.
    ///
    /// - Throws: ``GuardianFlowError/invalidInput(_:)`` (65) for a path that does not exist or
    ///   holds no run; ``GuardianFlowError/unavailable(_:)`` (69) when checkpoints are to be read
    ///   and the venv's Python cannot.
    public static func read(_ paths: [String], python: PythonEnvironment, logger: Logger = GuardianFlowLogging.logger("import"))
        async throws -> Reading
    {
        let folders = try RunFolder.find(in: paths)
        logger.debug("Found \(folders.count) run folder(s) under \(paths.joined(separator: ", ")).")
        let checkpointPaths = folders.flatMap(RunFolderReader.checkpointPaths)
        let checkpoints = try await CheckpointReader(python: python, logger: logger).read(checkpointPaths)
        let reader = RunFolderReader(checkpoints: checkpoints)
        var reading = Reading(runs: [], skipped: [])
        for folder in folders {
            do {
                reading.runs.append(try reader.read(folder))
            } catch {
                let message = GuardianFlowError.wrap(error).description
                reading.skipped.append(ImportResult(path: folder.path, outcome: .skipped, detail: message))
            }
        }
        return reading
    }

    /// Imports the runs, `options.concurrency` at once, in the order given; `progress` hears of each
    /// as it ends. A run that fails at the server is reported and the others go on; a stop (the
    /// task cancelled) ends the import, leaving a run in the middle partial and KILLED.
    public static func importAll(
        _ runs: [ImportedRun], into experiment: Experiment, importer: RunImporter,
        progress: @escaping @Sendable (ImportResult, _ done: Int, _ total: Int) -> Void = { _, _, _ in }
    ) async throws -> [ImportResult] {
        let concurrency = max(1, importer.options.concurrency)
        return try await withThrowingTaskGroup(of: (Int, ImportResult).self) { group in
            var results: [ImportResult?] = Array(repeating: nil, count: runs.count)
            var next = 0
            var done = 0
            func add() {
                let index = next
                let run = runs[index]
                group.addTask {
                    do {
                        return (index, try await importer.importRun(run, experiment: experiment))
                    } catch {
                        if Task.isCancelled || error is CancellationError { throw CancellationError() }
                        let wrapped = GuardianFlowError.wrap(error)
                        var failed = ImportResult(path: run.folder.path, outcome: .failed, detail: wrapped.description)
                        failed.exitCode = wrapped.exitCode
                        return (index, failed)
                    }
                }
                next += 1
            }
            while next < min(concurrency, runs.count) { add() }
            while let (index, result) = try await group.next() {
                results[index] = result
                done += 1
                progress(result, done, runs.count)
                if next < runs.count { add() }
            }
            return results.compactMap { $0 }
        }
    }
}

/// One row of the survey (`import --dry-run`): what a run folder is and what it would become.
public struct SurveyRow: Sendable, Encodable, Equatable {
    public var path: String
    public var format: String
    public var ultralyticsVersion: String?
    public var task: String?
    public var model: String?
    public var data: String?
    public var epochs: Int?
    public var plannedEpochs: Int?
    /// FINISHED or KILLED; nil for a folder that cannot be read.
    public var status: String?
    public var statusReason: String?
    public var bestMAP50_95: Double?
    /// ISO 8601.
    public var start: String?
    /// The MLflow run it is already imported as, if any.
    public var importedAs: String?
    public var importedExperimentId: String?
    /// Why it cannot be imported (a damaged file).
    public var error: String?

    enum CodingKeys: String, CodingKey {
        case path, format, task, model, data, epochs, status, start, error
        case ultralyticsVersion = "ultralytics_version"
        case plannedEpochs = "planned_epochs"
        case statusReason = "status_reason"
        case bestMAP50_95 = "best_mAP50_95"
        case importedAs = "imported_as"
        case importedExperimentId = "imported_experiment_id"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(path, forKey: .path)
        try c.encode(format, forKey: .format)
        try c.encode(ultralyticsVersion, forKey: .ultralyticsVersion)
        try c.encode(task, forKey: .task)
        try c.encode(model, forKey: .model)
        try c.encode(data, forKey: .data)
        try c.encode(epochs, forKey: .epochs)
        try c.encode(plannedEpochs, forKey: .plannedEpochs)
        try c.encode(status, forKey: .status)
        try c.encode(statusReason, forKey: .statusReason)
        try c.encode(bestMAP50_95, forKey: .bestMAP50_95)
        try c.encode(start, forKey: .start)
        try c.encode(importedAs, forKey: .importedAs)
        try c.encode(importedExperimentId, forKey: .importedExperimentId)
        if let error { try c.encode(error, forKey: .error) }
    }

    /// The survey of a reading: a row per run, then one per skipped folder, by path.
    ///
    /// - Parameter imported: origin → runs already imported from it (nil when MLflow was not asked).
    public static func rows(_ reading: RunImport.Reading, imported: [String: [Run]]?) -> [SurveyRow] {
        let iso = ISO8601DateFormatter()
        var rows = reading.runs.map { run in
            let existing = imported?[run.origin]?.first
            return SurveyRow(
                path: run.folder.path, format: run.folder.format.rawValue, ultralyticsVersion: run.ultralyticsVersion, task: run.task,
                model: run.model, data: run.data, epochs: run.lastEpoch, plannedEpochs: run.plannedEpochs, status: run.status.rawValue,
                statusReason: run.statusReason, bestMAP50_95: run.bestMAP50_95,
                start: iso.string(from: Date(timeIntervalSince1970: Double(run.timeline.start) / 1000)), importedAs: existing?.info.runId,
                importedExperimentId: existing?.info.experimentId, error: nil)
        }
        rows += reading.skipped.map {
            SurveyRow(path: $0.path, format: "?", status: nil, error: $0.detail)
        }
        return rows.sorted { $0.path < $1.path }
    }

    init(
        path: String, format: String, ultralyticsVersion: String? = nil, task: String? = nil, model: String? = nil, data: String? = nil,
        epochs: Int? = nil, plannedEpochs: Int? = nil, status: String?, statusReason: String? = nil, bestMAP50_95: Double? = nil,
        start: String? = nil, importedAs: String? = nil, importedExperimentId: String? = nil, error: String?
    ) {
        self.path = path
        self.format = format
        self.ultralyticsVersion = ultralyticsVersion
        self.task = task
        self.model = model
        self.data = data
        self.epochs = epochs
        self.plannedEpochs = plannedEpochs
        self.status = status
        self.statusReason = statusReason
        self.bestMAP50_95 = bestMAP50_95
        self.start = start
        self.importedAs = importedAs
        self.importedExperimentId = importedExperimentId
        self.error = error
    }
}

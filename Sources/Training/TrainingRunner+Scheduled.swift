import Foundation
import GuardianFlowCore
import MLflow

/// A training that another process runs (`guardianflow submit`): its run is created SCHEDULED
/// here, and `guardianflow train --attach RUN_ID` takes it over where the job runs.
extension TrainingRunner {
    /// Validates everything as ``run(epochs:batchSize:options:)`` does, then creates the run
    /// SCHEDULED, with the submitted settings as params and the usual tags plus `tags`.
    ///
    /// - Returns: the run (SCHEDULED).
    public func schedule(options: TrainingOptions, tags extra: [String: String] = [:]) async throws -> RunInfo {
        let prepared = try await prepare(options: options)
        let client = prepared.client
        let runName = options.runName ?? Self.defaultRunName(modelArch: modelArch)
        var tags = await RunTags.standard(
            experimentCommand: "guardianflow submit", options: options, modelArch: modelArch, dataset: prepared.dataset)
        tags["guardianflow.data"] = prepared.dataset.yamlPath
        tags["guardianflow.data_root"] = prepared.dataset.root
        for (key, value) in extra { tags[key] = value }
        let info = try await client.createRun(experimentId: prepared.experiment.experimentId, runName: runName, tags: tags)
        do {
            var params: [String: String] = [
                "model": prepared.model, "data": prepared.dataset.yamlPath, "epochs": String(options.epochs),
                "batch": String(options.batch),
                "imgsz": String(options.imgsz),
            ]
            if let device = options.device { params["device"] = device }
            if let workers = options.workers { params["workers"] = String(workers) }
            if let seed = options.seed { params["seed"] = String(seed) }
            if let lr = options.learningRate { params["lr0"] = String(lr) }
            for (key, value) in options.extraArguments { params[key] = value }
            try await client.logBatch(
                runId: info.runId, params: params.sorted { $0.key < $1.key }.map { KeyValue(key: $0.key, value: $0.value) })
            guard let scheduled = try await client.updateRun(runId: info.runId, status: .scheduled) else { return info }
            return scheduled
        } catch {
            try? await client.deleteRun(runId: info.runId)
            throw error
        }
    }

    /// Trains the SCHEDULED run `runId` as `train` would have (the job's side of `submit`): it goes
    /// RUNNING, then FINISHED with its version registered, or FAILED/KILLED.
    ///
    /// - Parameter tags: tags to add as it starts (the node, the GPUs the scheduler gave).
    /// - Throws: ``GuardianFlowError/registryState(_:)`` (6) for an unknown run, or one that is not SCHEDULED.
    public func attach(runId: String, options: TrainingOptions, tags: [String: String] = [:]) async throws -> TrainingResult {
        let prepared = try await prepare(options: options)
        let (settings, client) = (prepared.settings, prepared.client)
        let run: Run
        do {
            run = try await client.getRun(id: runId)
        } catch let error as MLflowError where error.isNotFound || error.errorCode == "INVALID_PARAMETER_VALUE" {
            throw GuardianFlowError.registryState(
                "There is no run \(runId) on \(TrackingURI.redact(client.trackingURI.baseURL)) to attach to.")
        }
        guard run.info.status == .scheduled else {
            throw GuardianFlowError.registryState(
                "Run \(runId) is \(run.info.status.rawValue), not SCHEDULED: only a submitted run that has not started can be attached to.")
        }
        guard run.info.experimentId == prepared.experiment.experimentId else {
            throw GuardianFlowError.registryState("Run \(runId) belongs to another experiment than '\(experimentName)'.")
        }
        let saveDir = (settings.workDir as NSString).appendingPathComponent("runs/\(runId)")
        let job = TrainingJob(
            model: prepared.model, data: prepared.dataset.yamlPath, epochs: options.epochs, batch: options.batch, imgsz: options.imgsz,
            device: options.device, project: (settings.workDir as NSString).appendingPathComponent("runs"),
            name: runId, workers: options.workers, seed: options.seed, args: Self.extraArguments(options))
        let session = try reopenSession(
            run, client: client, settings: settings, python: prepared.python, experimentName: experimentName, options: options,
            dataset: prepared.dataset, modelArch: modelArch, saveDir: saveDir, resuming: false)
        do {
            try await client.updateRun(runId: runId, status: .running)
            var started = tags
            let milliseconds = ISO8601DateFormatter()
            milliseconds.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            started["guardianflow.started_at"] = milliseconds.string(from: Date())
            try await client.logBatch(runId: runId, tags: started.sorted { $0.key < $1.key }.map { KeyValue(key: $0.key, value: $0.value) })
        } catch {
            await session.abandon(restoring: .scheduled)
            throw error
        }
        return try await session.execute(job)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import MLflow

/// One run from the trainer's start to the run's end: the event loop, the live logging, and
/// whichever ending applies (FINISHED and registered, FAILED, or KILLED).
final class TrainingSession: @unchecked Sendable {
    let client: MLflowClient
    let settings: Settings
    let python: PythonEnvironment
    let launcher: (any TrainerLauncher)?
    let control: TrainingControl
    let onProgress: @Sendable (TrainingProgress) -> Void
    let notice: @Sendable (String) -> Void
    let run: RunInfo
    let experimentName: String
    let options: TrainingOptions
    let dataset: TrainingInputValidator.Dataset
    let modelArch: String
    let saveDir: String
    let resuming: Bool
    var loggedParams: Set<String>

    let logFile: String
    let store: any ArtifactStore
    let started = ContinuousClock.now
    var startedEvent: TrainerEvent.Started?
    var finishedEvent: TrainerEvent.Finished?
    var errorEvent: (kind: String, message: String)?
    var lastEpoch = 0
    var firstEpochThisProcess: Int?
    var epochsTotal: Int
    /// System and GPU metrics while the trainer runs; nil when they are off.
    var monitor: SystemMonitor?
    /// Log batches the server did not take even after retrying; sent again before the run ends.
    var undelivered: [(metrics: [Metric], params: [KeyValue], tags: [KeyValue])] = []

    init(
        client: MLflowClient, settings: Settings, python: PythonEnvironment, launcher: (any TrainerLauncher)?,
        control: TrainingControl, onProgress: @escaping @Sendable (TrainingProgress) -> Void,
        notice: @escaping @Sendable (String) -> Void, run: RunInfo, experimentName: String, options: TrainingOptions,
        dataset: TrainingInputValidator.Dataset, modelArch: String, saveDir: String, resuming: Bool,
        loggedParams: Set<String> = []
    ) {
        self.client = client
        self.settings = settings
        self.python = python
        self.launcher = launcher
        self.control = control
        self.onProgress = onProgress
        self.notice = notice
        self.run = run
        self.experimentName = experimentName
        self.options = options
        self.dataset = dataset
        self.modelArch = modelArch
        self.saveDir = saveDir
        self.resuming = resuming
        self.loggedParams = loggedParams
        self.logFile = saveDir + ".log"
        self.epochsTotal = options.epochs
        // The runner checked the scheme before creating the run.
        self.store = (try? ArtifactStores.forArtifactURI(run.artifactURI, client: client, s3: settings.s3Configuration))
            ?? LocalArtifactStore(root: LocalArtifactStore.path(ofFileURI: run.artifactURI))
    }

    var elapsed: Double {
        let d = ContinuousClock.now - started
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    func progress(_ phase: TrainingProgress.Phase) {
        var eta: Double?
        if let first = firstEpochThisProcess, lastEpoch >= first {
            let done = Double(lastEpoch - first + 1)
            eta = elapsed / done * Double(max(0, epochsTotal - lastEpoch))
        }
        onProgress(TrainingProgress(phase: phase, epoch: lastEpoch, epochs: epochsTotal, elapsed: elapsed, eta: eta))
    }

    /// Runs the trainer to its end and ends the run accordingly.
    func execute(_ job: TrainingJob) async throws -> TrainingResult {
        do {
            return try await withTaskCancellationHandler {
                try await supervise(job)
            } onCancel: {
                control.stop(signal: SIGINT)
            }
        } catch let error as GuardianFlowError {
            throw error
        } catch {
            // Anything unexpected after the run exists still ends it.
            await monitor?.stop()
            let wrapped = GuardianFlowError.wrap(error)
            await uncancelled { await self.endFailed(kind: "guardianflow", message: wrapped.description, uploadWeights: true) }
            throw wrapped
        }
    }

    func supervise(_ job: TrainingJob) async throws -> TrainingResult {
        progress(.starting(runId: run.runId, experimentId: run.experimentId))
        try? FileManager.default.createDirectory(atPath: FilePaths.parent(saveDir), withIntermediateDirectories: true)
        let trainerLauncher =
            launcher
            ?? PythonTrainerLauncher(
                python: python, configDirectory: (settings.workDir as NSString).appendingPathComponent("ultralytics-config"))
        let trainer: any TrainerProcess
        do {
            trainer = try trainerLauncher.launch(job, logFile: logFile)
        } catch {
            await uncancelled { await self.endFailed(kind: "other", message: "\(error)", uploadWeights: false) }
            throw GuardianFlowError.trainingFailed("The trainer could not start: \(error)")
        }
        control.attach(trainer)
        await startMonitor(trainerGroup: trainer.processGroup)
        for await event in trainer.events {
            await handle(event)
        }
        await monitor?.stop()
        let exit = await trainer.waitForExit()

        if let signal = control.stopSignal {
            await uncancelled { await self.endKilled(signal: signal) }
            let name = signal == SIGTERM ? "SIGTERM" : "SIGINT"
            throw GuardianFlowError.interrupted(
                signal: signal,
                "Stopped by \(name) at epoch \(lastEpoch)/\(epochsTotal). Run \(run.runId) is KILLED; "
                    + "continue it with `guardianflow train --resume \(run.runId)`.")
        }
        if let finished = finishedEvent, exit.succeeded {
            return try await finish(finished)
        }
        let tail = trainer.logTail(lines: 15)
        if let failure = errorEvent {
            await uncancelled { await self.endFailed(kind: failure.kind, message: failure.message, uploadWeights: true) }
            if failure.kind == "oom" {
                throw GuardianFlowError.outOfMemory(
                    "Training ran out of memory at epoch \(lastEpoch + 1): \(failure.message)\nTry a smaller --batch, "
                        + "or --batch -1 to let ultralytics pick one that fits. Run \(run.runId) is FAILED; log: \(logFile)")
            }
            throw GuardianFlowError.trainingFailed(
                "Training failed (\(failure.kind)): \(failure.message)\nRun \(run.runId) is FAILED; log: \(logFile)")
        }
        let message = "The trainer ended with \(exit) without reporting why. Last lines of \(logFile):\n\(tail)"
        let kind = exit == .signaled(SIGKILL) ? "oom" : "other"
        await uncancelled { await self.endFailed(kind: kind, message: message, uploadWeights: true) }
        if kind == "oom" {
            throw GuardianFlowError.outOfMemory(
                "The trainer was killed (SIGKILL), most likely by the kernel's out-of-memory killer. Try a smaller --batch "
                    + "or --imgsz. Run \(run.runId) is FAILED.")
        }
        throw GuardianFlowError.trainingFailed(message)
    }

    // MARK: Events

    func handle(_ event: TrainerEvent) async {
        switch event {
        case .started(let started):
            startedEvent = started
            epochsTotal = started.epochs
            var tags = [
                KeyValue(key: "ultralytics.version", value: started.ultralytics),
                KeyValue(key: "torch.version", value: started.torch),
                KeyValue(key: "device", value: started.device),
                KeyValue(key: "guardianflow.save_dir", value: started.saveDir),
                KeyValue(key: "guardianflow.gpu_metrics", value: watchGPU(started)),
            ]
            if resuming { tags.append(KeyValue(key: "guardianflow.resumed_from_epoch", value: String(started.startEpoch))) }
            let params = started.args.sorted { $0.key < $1.key }
                .filter { !loggedParams.contains($0.key) }
                .map { KeyValue(key: $0.key, value: Redaction.scrub($0.value, secrets: settings.secretValues)) }
            loggedParams.formUnion(params.map(\.key))
            await log(metrics: [], params: params, tags: tags)
            progress(.started(device: started.device, saveDir: started.saveDir))
        case .epoch(let epoch):
            if firstEpochThisProcess == nil { firstEpochThisProcess = epoch.epoch }
            lastEpoch = epoch.epoch
            epochsTotal = epoch.epochs
            let now = mlflowTimestamp()
            let metrics = TrainingMetrics.epochMetrics(epoch).sorted { $0.key < $1.key }.map {
                Metric(key: $0.key, value: $0.value, timestamp: now, step: Int64(epoch.epoch))
            }
            await log(metrics: metrics, params: [], tags: [])
            progress(.epoch(TrainingMetrics(ultralytics: epoch.metrics)))
        case .finished(let finished):
            finishedEvent = finished
        case .error(let kind, let message, _):
            errorEvent = (kind, message)
        }
    }

    /// Logs one batch, with the system samples taken since the last one; on failure it is kept
    /// and sent again before the run ends.
    func log(metrics: [Metric], params: [KeyValue], tags: [KeyValue]) async {
        let metrics = metrics + (monitor?.drain() ?? [])
        do {
            try await client.logBatch(runId: run.runId, metrics: metrics, params: params, tags: tags)
        } catch {
            notice("Could not log to MLflow (\(error)); training goes on and the values will be sent again at the end.")
            undelivered.append((metrics, params, tags))
        }
    }

    func deliverUndelivered() async throws {
        if let samples = monitor?.drain(), !samples.isEmpty { undelivered.append((samples, [], [])) }
        while let batch = undelivered.first {
            try await client.logBatch(runId: run.runId, metrics: batch.metrics, params: batch.params, tags: batch.tags)
            undelivered.removeFirst()
        }
    }

    // MARK: System metrics

    /// Starts sampling the machine and the trainer's process group (DESIGN.md section 2, step 5).
    func startMonitor(trainerGroup: Int32?) async {
        guard let interval = settings.systemMetricsInterval else { return }
        var firstStep: Int64 = 0
        if resuming, let history = try? await client.metricHistory(runId: run.runId, key: "system/system_memory_usage_megabytes") {
            firstStep = (history.map(\.step).max() ?? -1) + 1
        }
        let client = self.client
        let runId = run.runId
        let monitor = SystemMonitor(interval: interval, firstStep: firstStep) { metrics in
            (try? await client.logBatch(runId: runId, metrics: metrics)) != nil
        }
        monitor.watch(trainerGroup: trainerGroup)
        monitor.start()
        self.monitor = monitor
    }

    /// Points the monitor at the GPU the trainer uses; returns the `guardianflow.gpu_metrics` tag
    /// saying what is logged, or why nothing is.
    func watchGPU(_ started: TrainerEvent.Started) -> String {
        guard let monitor else { return "off: system metrics are turned off (system_metrics_interval 0)" }
        let selection: GPUSelection?
        do {
            selection = try GPUSelection.resolve(
                device: started.device, uuid: started.deviceUUID,
                cudaVisibleDevices: ProcessInfo.processInfo.environment["CUDA_VISIBLE_DEVICES"])
        } catch {
            notice("GPU metrics are not logged: \(error).")
            return "unavailable: \(error)"
        }
        guard let selection else {
            var reason = "unavailable: the training runs on the CPU (device \(started.device))"
            if case .absent(let why) = NVMLAvailability.probe(path: settings.nvmlLibrary) { reason += "; NVML absent: \(why)" }
            return reason
        }
        do {
            let nvml = try NVML.open(path: settings.nvmlLibrary)
            let device = try selection.open(in: nvml)
            monitor.watch(gpu: nvml, device: device, label: selection.label)
            return "logged as system/gpu_\(selection.label)_*: \(device.name) (\(device.uuid))"
        } catch {
            notice("GPU metrics are not logged: \(error)")
            return "unavailable: \(error)"
        }
    }

    // MARK: Endings

    func finish(_ finished: TrainerEvent.Finished) async throws -> TrainingResult {
        do {
            return try await uncancelledThrowing { try await self.finishUnprotected(finished) }
        } catch {
            let wrapped = GuardianFlowError.wrap(error)
            await uncancelled {
                await self.endFailed(kind: "guardianflow", message: "after training: \(wrapped.description)", uploadWeights: false)
            }
            throw wrapped
        }
    }

    func finishUnprotected(_ finished: TrainerEvent.Finished) async throws -> TrainingResult {
        progress(.finishing("logging the best checkpoint's metrics"))
        try await deliverUndelivered()
        let best = TrainingMetrics(ultralytics: finished.bestMetrics)
        let step = Int64(max(finished.epochsCompleted, lastEpoch))
        let now = mlflowTimestamp()
        var summary = best.dictionary(prefix: "best/")
        let gpu = monitor?.gpuSummary
        let system = SystemMetrics(
            gpuMemoryUsedMB: gpu?.peakMemoryMB, gpuUtilizationPct: gpu?.meanUtilization, inferenceTimeMs: finished.speedMs["inference"],
            modelSizeMB: finished.best.flatMap { Self.fileSize($0) }.map { Double($0) / 1_000_000 })
        summary.merge(system.dictionary()) { $1 }
        try await client.logBatch(
            runId: run.runId,
            metrics: summary.sorted { $0.key < $1.key }.map { Metric(key: $0.key, value: $0.value, timestamp: now, step: step) })

        progress(.finishing("uploading artifacts"))
        let uploaded = try await uploadArtifacts(finished)
        guard let bestSHA = uploaded["weights/best.pt"] else {
            throw GuardianFlowError.trainingFailed("Training finished without weights/best.pt in \(finished.saveDir).")
        }

        progress(.finishing("registering the model"))
        let name = options.registeredModelName(experiment: experimentName)
        var versionTags: [String: String] = [
            "model_arch": modelArch, "dataset": dataset.yamlPath, "dataset.sha256": dataset.contentHash,
            "weights.sha256": bestSHA, "guardianflow.run_id": run.runId,
        ]
        if let customer = options.customer { versionTags["customer"] = customer }
        if let task = options.task { versionTags["task"] = task }
        for (key, value) in summary { versionTags[key] = Self.format(value) }
        let model = try await ModelRegistry(client: client).register(
            runId: run.runId, artifactPath: "weights", modelName: name, alias: ModelRegistry.candidate, tags: versionTags)
        try await client.logBatch(
            runId: run.runId,
            tags: [
                KeyValue(key: "weights.sha256", value: bestSHA), KeyValue(key: "guardianflow.model_name", value: model.name),
                KeyValue(key: "guardianflow.model_version", value: model.version),
            ])
        try await client.updateRun(runId: run.runId, status: .finished, endTime: mlflowTimestamp())
        return TrainingResult(
            runId: run.runId, experimentId: run.experimentId, status: .finished, metrics: best, model: model,
            artifactURI: run.artifactURI, saveDir: finished.saveDir, epochsCompleted: Int(step), weightsSHA256: bestSHA)
    }

    /// Uploads the run's files with their SHA-256 recorded in `guardianflow/manifest.json`.
    ///
    /// - Returns: artifact path → SHA-256.
    func uploadArtifacts(_ finished: TrainerEvent.Finished) async throws -> [String: String] {
        var files: [(local: String, path: String)] = []
        let manager = FileManager.default
        let weights = (finished.saveDir as NSString).appendingPathComponent("weights")
        for name in ["best.pt", "last.pt"] where manager.fileExists(atPath: "\(weights)/\(name)") {
            files.append(("\(weights)/\(name)", "weights/\(name)"))
        }
        for name in ["results.csv", "args.yaml"] where manager.fileExists(atPath: "\(finished.saveDir)/\(name)") {
            files.append(("\(finished.saveDir)/\(name)", name))
        }
        let entries = (try? manager.contentsOfDirectory(atPath: finished.saveDir)) ?? []
        for name in entries.sorted() where ["png", "jpg", "jpeg"].contains((name as NSString).pathExtension.lowercased()) {
            files.append(("\(finished.saveDir)/\(name)", "plots/\(name)"))
        }
        if manager.fileExists(atPath: logFile) { files.append((logFile, "logs/train.log")) }

        let digests = try await withThrowingTaskGroup(of: (String, String, Int64).self) { group in
            var running = 0
            var results: [String: (String, Int64)] = [:]
            for file in files {
                if running == 4, let (path, sha, size) = try await group.next() {
                    results[path] = (sha, size)
                    running -= 1
                }
                group.addTask {
                    let sha = try FileDigest.sha256(ofFile: file.local)
                    try await self.store.upload(file: file.local, to: file.path)
                    return (file.path, sha, Self.fileSize(file.local) ?? 0)
                }
                running += 1
            }
            for try await (path, sha, size) in group { results[path] = (sha, size) }
            return results
        }
        let manifest = digests.mapValues { ["sha256": $0.0, "size": String($0.1)] }
        let manifestFile = saveDir + ".manifest.json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(manifest).write(to: URL(fileURLWithPath: manifestFile))
        try await store.upload(file: manifestFile, to: "guardianflow/manifest.json")
        return digests.mapValues(\.0)
    }

    /// Ends the run KILLED after a stop: last.pt and the log uploaded, tags saying why.
    func endKilled(signal: Int32) async {
        let name = signal == SIGTERM ? "SIGTERM" : "SIGINT"
        try? await deliverUndelivered()
        await uploadPartial(includeWeights: true)
        try? await client.logBatch(
            runId: run.runId,
            tags: [
                KeyValue(key: "guardianflow.error.kind", value: "interrupted"),
                KeyValue(key: "guardianflow.error.message", value: "stopped by \(name) at epoch \(lastEpoch)/\(epochsTotal)"),
                KeyValue(key: "guardianflow.error.signal", value: String(signal)),
            ])
        _ = try? await client.updateRun(runId: run.runId, status: .killed, endTime: mlflowTimestamp())
    }

    /// Ends the run FAILED with tags saying why, uploading the log (and last.pt when asked).
    func endFailed(kind: String, message: String, uploadWeights: Bool) async {
        try? await deliverUndelivered()
        await uploadPartial(includeWeights: uploadWeights)
        try? await client.logBatch(
            runId: run.runId,
            tags: [
                KeyValue(key: "guardianflow.error.kind", value: kind),
                KeyValue(key: "guardianflow.error.message", value: Redaction.scrub(message, secrets: settings.secretValues)),
            ])
        _ = try? await client.updateRun(runId: run.runId, status: .failed, endTime: mlflowTimestamp())
    }

    func uploadPartial(includeWeights: Bool) async {
        if FileManager.default.fileExists(atPath: logFile) {
            try? await store.upload(file: logFile, to: "logs/train.log")
        }
        let lastPt = (saveDir as NSString).appendingPathComponent("weights/last.pt")
        if includeWeights, FileManager.default.fileExists(atPath: lastPt) {
            try? await store.upload(file: lastPt, to: "weights/last.pt")
        }
    }

    static func fileSize(_ path: String) -> Int64? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
    }

    static func format(_ value: Double) -> String {
        String(format: "%.6g", value)
    }
}

/// Runs `body` in a task that does not inherit cancellation, so a run still gets ended after
/// the caller was cancelled.
func uncancelled(_ body: @escaping @Sendable () async -> Void) async {
    await Task.detached { await body() }.value
}

func uncancelledThrowing<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await Task.detached { try await body() }.value
}

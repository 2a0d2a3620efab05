import Config
import Delivery
import Foundation
import Glibc
import GuardianFlowCore
import MLflow
import PathSupport
import Registry
import SystemMonitoring

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
    /// The run's journal and the logger that delivers it: what the run logs is on disk before it is sent.
    let journal: RunJournal
    let logger: RunLogger
    let started = ContinuousClock.now
    var startedEvent: TrainerEvent.Started?
    var finishedEvent: TrainerEvent.Finished?
    var errorEvent: (kind: String, message: String)?
    var lastEpoch = 0
    var firstEpochThisProcess: Int?
    var epochsTotal: Int
    /// System and GPU metrics while the trainer runs; nil when they are off.
    var monitor: SystemMonitor?
    /// The trainer, once started.
    var trainer: (any TrainerProcess)?
    /// Why the work dir's disk stopped taking the journal, once it did: the training is stopped,
    /// and the command exits 74 with it.
    var diskFailure: GuardianFlowError?

    init(
        client: MLflowClient, settings: Settings, python: PythonEnvironment, launcher: (any TrainerLauncher)?,
        control: TrainingControl, onProgress: @escaping @Sendable (TrainingProgress) -> Void,
        notice: @escaping @Sendable (String) -> Void, run: RunInfo, experimentName: String, options: TrainingOptions,
        dataset: TrainingInputValidator.Dataset, modelArch: String, saveDir: String, resuming: Bool,
        loggedParams: Set<String> = []
    ) throws {
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
        self.journal = try RunJournal(workDir: settings.workDir, runId: run.runId)
        self.logger = RunLogger(journal: journal, client: client, notice: notice)
        try RunLease.mine(
            runId: run.runId, experimentId: run.experimentId, artifactURI: run.artifactURI,
            trackingURI: TrackingURI.redact(client.trackingURI.baseURL)
        ).write(workDir: settings.workDir)
        logger.start()
    }

    func makeFinisher() throws -> RunFinisher {
        try RunFinisher(client: client, artifactURI: run.artifactURI, settings: settings) { [onProgress = self.onProgress, weak self] step in
            guard let self else { return }
            onProgress(TrainingProgress(phase: .finishing(step), epoch: self.lastEpoch, epochs: self.epochsTotal, elapsed: self.elapsed, eta: nil))
        }
    }

    /// Gives the run up before its trainer started (a resume whose reopening failed): it goes
    /// back to `status`, and the journal and lease go once the server took that.
    func abandon(restoring status: RunStatus) async {
        await logger.stop()
        if (try? await client.updateRun(runId: run.runId, status: status)) != nil, journal.pendingCount == 0 { released() }
    }

    /// The run has ended on the server: its journal and lease go.
    func released() {
        journal.remove()
        RunLease.release(workDir: settings.workDir, runId: run.runId)
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
            let ending = await uncancelled { await self.endFailed(kind: "other", message: "\(error)", uploadWeights: false) }
            throw failure(GuardianFlowError.trainingFailed("The trainer could not start: \(error)\n\(ending.sentence(run.runId, .failed))"))
        }
        self.trainer = trainer
        control.attach(trainer)
        await startMonitor(trainerGroup: trainer.processGroup)
        for await event in trainer.events {
            await handle(event)
        }
        await monitor?.stop()
        let exit = await trainer.waitForExit()

        if let disk = diskFailure {
            let ending = await uncancelled {
                await self.endFailed(kind: "io", message: "the work dir's disk refused the journal: \(disk.description)", uploadWeights: true)
            }
            throw GuardianFlowError.io(
                "\(disk.description)\nThe training was stopped at epoch \(lastEpoch)/\(epochsTotal): it cannot go on without its journal. "
                    + ending.sentence(run.runId, .failed))
        }
        if let signal = control.stopSignal {
            let ending = await uncancelled { await self.endKilled(signal: signal) }
            let name = signal == SIGTERM ? "SIGTERM" : "SIGINT"
            var message = "Stopped by \(name) at epoch \(lastEpoch)/\(epochsTotal). " + ending.sentence(run.runId, .killed)
            if case .ended(let outcome) = ending {
                message +=
                    outcome.uploaded.contains("weights/last.pt")
                    ? " Continue it with `guardianflow train --resume \(run.runId)`."
                    : " It has no last.pt among its artifacts, so it cannot be resumed; start a new training."
            }
            throw failure(GuardianFlowError.interrupted(signal: signal, message))
        }
        if let finished = finishedEvent, exit.succeeded {
            return try await finish(finished)
        }
        let tail = trainer.logTail(lines: 15)
        if let reported = errorEvent {
            let ending = await uncancelled { await self.endFailed(kind: reported.kind, message: reported.message, uploadWeights: true) }
            if reported.kind == "oom" {
                throw failure(
                    GuardianFlowError.outOfMemory(
                        "Training ran out of memory at epoch \(lastEpoch + 1): \(reported.message)\nTry a smaller --batch, "
                            + "or --batch -1 to let ultralytics pick one that fits. \(ending.sentence(run.runId, .failed)) Log: \(logFile)"))
            }
            throw failure(
                GuardianFlowError.trainingFailed(
                    "Training failed (\(reported.kind)): \(reported.message)\n\(ending.sentence(run.runId, .failed)) Log: \(logFile)"))
        }
        let message = "The trainer ended with \(exit) without reporting why. Last lines of \(logFile):\n\(tail)"
        let kind = exit == .signaled(SIGKILL) ? "oom" : "other"
        let ending = await uncancelled { await self.endFailed(kind: kind, message: message, uploadWeights: true) }
        if kind == "oom" {
            throw failure(
                GuardianFlowError.outOfMemory(
                    "The trainer was killed (SIGKILL), most likely by the kernel's out-of-memory killer. Try a smaller --batch "
                        + "or --imgsz. \(ending.sentence(run.runId, .failed))"))
        }
        throw failure(GuardianFlowError.trainingFailed(message + "\n" + ending.sentence(run.runId, .failed)))
    }

    /// The error to throw for a training that ended badly: `error`, unless the work dir's disk
    /// refused the run's end plan meanwhile, which the user must hear of first (exit 74).
    func failure(_ error: GuardianFlowError) -> GuardianFlowError {
        guard let disk = diskFailure else { return error }
        return GuardianFlowError.io("\(error.description)\nAlso: \(disk.description)")
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

    /// Logs one batch with the system samples taken since the last one: journaled at once and
    /// delivered in order by the run's logger, whether or not MLflow answers right now.
    func log(metrics: [Metric], params: [KeyValue], tags: [KeyValue]) async {
        logger.log(metrics: metrics + (monitor?.drain() ?? []), params: params, tags: tags)
        if let error = logger.diskError { stopForDisk(error) }
    }

    /// The journal cannot be written: a training that went on would log into memory only, and
    /// its checkpoints would fail on the same disk. Stop it; `supervise` ends the run FAILED.
    func stopForDisk(_ error: GuardianFlowError) {
        guard diskFailure == nil else { return }
        diskFailure = error
        notice("Stopping the training: the run's journal cannot be written.")
        if let trainer {
            let grace = control.grace
            Task.detached { await trainer.stop(grace: grace) }
        }
    }

    /// What the monitor still holds goes to the journal too.
    func flushSamples() {
        if let samples = monitor?.drain(), !samples.isEmpty { logger.log(metrics: samples) }
    }

    // MARK: System metrics

    /// Starts sampling the machine and the trainer's process group.
    func startMonitor(trainerGroup: Int32?) async {
        guard let interval = settings.systemMetricsInterval else { return }
        var firstStep: Int64 = 0
        if resuming, let history = try? await client.metricHistory(runId: run.runId, key: "system/system_memory_usage_megabytes") {
            firstStep = (history.map(\.step).max() ?? -1) + 1
        }
        let logger = self.logger
        let monitor = SystemMonitor(interval: interval, firstStep: firstStep) { metrics in
            logger.log(metrics: metrics)
            return true
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
            if case .interrupted = wrapped { throw wrapped }  // the plan stays for sync
            if wrapped.exitCode == 69, journal.pending.contains(where: { $0.kind == .finish }) {
                // MLflow or the artifact store went away while finishing: the plan stays in the
                // journal, and `guardianflow sync` finishes the run (FINISHED, registered) later.
                RunLease.release(workDir: settings.workDir, runId: run.runId)
                if case .unavailable = wrapped { throw wrapped }
                throw GuardianFlowError.unavailable(
                    "\(wrapped.description)\nRun \(run.runId) is trained; finishing it (artifacts, model version) waits in "
                        + "\(journal.path). When the server answers, run `guardianflow sync`.")
            }
            await uncancelled {
                // The finish plan failed for good: skip it, so that the end below is what sync would do.
                if let plan = self.journal.pending.first(where: { $0.kind == .finish }) { try? self.journal.markDelivered(through: plan.seq) }
                await self.endFailed(kind: "guardianflow", message: "after training: \(wrapped.description)", uploadWeights: false)
            }
            throw wrapped
        }
    }

    /// How long the end of a training waits for an unanswering server before leaving the rest to `guardianflow sync`.
    var outageWait: Duration { settings.outageWait }

    func finishUnprotected(_ finished: TrainerEvent.Finished) async throws -> TrainingResult {
        progress(.finishing("logging the best checkpoint's metrics"))
        flushSamples()
        let best = TrainingMetrics(ultralytics: finished.bestMetrics)
        let step = Int64(max(finished.epochsCompleted, lastEpoch))
        let now = mlflowTimestamp()
        var summary = best.dictionary(prefix: "best/")
        let gpu = monitor?.gpuSummary
        let system = SystemMetrics(
            gpuMemoryUsedMB: gpu?.peakMemoryMB, gpuUtilizationPct: gpu?.meanUtilization, inferenceTimeMs: finished.speedMs["inference"],
            modelSizeMB: finished.best.flatMap { RunFinisher.fileSize($0) }.map { Double($0) / 1_000_000 })
        summary.merge(system.dictionary()) { $1 }
        logger.log(metrics: summary.sorted { $0.key < $1.key }.map { Metric(key: $0.key, value: $0.value, timestamp: now, step: step) })

        var versionTags: [String: String] = [
            "model_arch": modelArch, "dataset": dataset.yamlPath, "dataset.sha256": dataset.contentHash,
            "guardianflow.run_id": run.runId,
        ]
        if let customer = options.customer { versionTags["customer"] = customer }
        if let task = options.task { versionTags["task"] = task }
        for (key, value) in summary { versionTags[key] = Self.format(value) }
        let plan = FinishPlan(
            runId: run.runId, experimentId: run.experimentId, artifactURI: run.artifactURI, saveDir: finished.saveDir,
            logFile: logFile, manifestFile: saveDir + ".manifest.json", epochsCompleted: Int(step),
            bestMetrics: best.dictionary(), modelName: options.registeredModelName(experiment: experimentName),
            alias: ModelRegistry.candidate, versionTags: versionTags)
        let finisher = try makeFinisher()
        // When the disk refuses it, the weights are trained: finish without the journal's safety
        // net rather than lose them.
        let record = journalPlan { .finish(seq: $0, plan) }

        try await waitForServer(then: "finish the run (upload its artifacts, register the model)", interruptible: true)
        let (model, bestSHA) = try await finisher.finish(plan)
        control.recordEnd(.finished)
        if let record { try? journal.markDelivered(through: record.seq) }
        released()
        return TrainingResult(
            runId: run.runId, experimentId: run.experimentId, status: .finished, metrics: best, model: model,
            artifactURI: run.artifactURI, saveDir: finished.saveDir, epochsCompleted: Int(step), weightsSHA256: bestSHA)
    }

    /// Waits until the journal's batches are delivered; when MLflow stays away longer than the
    /// outage wait, stops the logger and throws the way to finish later.
    func waitForServer(then what: String, timeout: Duration? = nil, interruptible: Bool = false) async throws {
        let limit = timeout ?? outageWait
        let control = self.control
        let giveUp: @Sendable () -> Bool = { interruptible && control.stopSignal != nil }
        // Usually the journal is delivered at once; if not, say what is being waited for.
        let first = min(limit, .seconds(2))
        var delivered = await logger.drain(timeout: first, giveUp: giveUp)
        if !delivered, !giveUp(), limit > first {
            notice(
                "MLflow has not taken \(journal.pendingCount) journal record(s) yet; waiting up to \((limit - first).components.seconds) s "
                    + "for it to answer, to \(what)" + (interruptible ? "; Ctrl-C leaves it to `guardianflow sync`." : "."))
            delivered = await logger.drain(timeout: limit - first, giveUp: giveUp)
        }
        await logger.stop()
        guard delivered else {
            // No longer this process's to finish: the journal is `guardianflow sync`'s now.
            RunLease.release(workDir: settings.workDir, runId: run.runId)
            if interruptible, let signal = control.stopSignal {
                throw GuardianFlowError.interrupted(
                    signal: signal,
                    "Stopped while waiting for MLflow. Run \(run.runId) is trained; the rest (\(journal.pendingCount) journal "
                        + "record(s)) waits in \(journal.path): run `guardianflow sync` when the server answers.")
            }
            throw GuardianFlowError.unavailable(
                "MLflow at \(TrackingURI.redact(client.trackingURI.baseURL)) did not answer; the rest of run \(run.runId) "
                    + "(\(journal.pendingCount) journal record(s): metrics, then what \(what) takes) waits in \(journal.path). "
                    + "When the server is back, run `guardianflow sync` to deliver it.")
        }
    }

    /// Journals a run's planned end, unless the disk refuses it (now, or earlier: then the
    /// logger holds batches in memory that must go before any plan). Nil when not journaled;
    /// ``diskFailure`` then says why.
    func journalPlan(_ make: (Int) -> JournalRecord) -> JournalRecord? {
        if let earlier = logger.diskError {
            diskFailure = diskFailure ?? earlier
            return nil
        }
        do {
            return try journal.append(make)
        } catch {
            let wrapped = GuardianFlowError.wrap(error)
            diskFailure = diskFailure ?? wrapped
            notice("\(wrapped.description) Ending run \(run.runId) without its journal.")
            return nil
        }
    }

    /// How a journaled end went.
    enum Ending: Sendable {
        /// The run has its status on the server; what became of its files.
        case ended(RunFinisher.EndOutcome)
        /// MLflow did not take it in time: it waits in the journal for `guardianflow sync` (or,
        /// when the journal could not take it, for `guardianflow runs reap`).
        case leftOpen(journaled: Bool)

        /// "Run X is KILLED." or where its end waits.
        func sentence(_ runId: String, _ status: RunStatus) -> String {
            switch self {
            case .ended(let outcome):
                let missing = outcome.missing.keys.sorted()
                return "Run \(runId) is \(status.rawValue)."
                    + (missing.isEmpty ? "" : " Not uploaded: \(missing.joined(separator: ", ")) (tagged guardianflow.missing_artifacts).")
            case .leftOpen(let journaled):
                return "Run \(runId) could not be ended \(status.rawValue) on MLflow now; "
                    + (journaled
                        ? "its end waits in the journal: run `guardianflow sync` when the server answers."
                        : "run `guardianflow runs reap` when the server answers and the disk has room.")
            }
        }
    }

    /// Ends the run KILLED after a stop: last.pt and the log uploaded, tags saying why.
    func endKilled(signal: Int32) async -> Ending {
        let name = signal == SIGTERM ? "SIGTERM" : "SIGINT"
        return await end(
            status: .killed,
            tags: [
                KeyValue(key: "guardianflow.error.kind", value: "interrupted"),
                KeyValue(key: "guardianflow.error.message", value: "stopped by \(name) at epoch \(lastEpoch)/\(epochsTotal)"),
                KeyValue(key: "guardianflow.error.signal", value: String(signal)),
            ], uploadWeights: true)
    }

    /// Ends the run FAILED with tags saying why, uploading the log (and last.pt when asked).
    @discardableResult
    func endFailed(kind: String, message: String, uploadWeights: Bool) async -> Ending {
        await end(
            status: .failed,
            tags: [
                KeyValue(key: "guardianflow.error.kind", value: kind),
                KeyValue(key: "guardianflow.error.message", value: Redaction.scrub(message, secrets: settings.secretValues)),
            ], uploadWeights: uploadWeights)
    }

    /// The journaled end: recorded first, then done once the journal before it was delivered;
    /// when MLflow does not answer within a short wait, left to `guardianflow sync`. When the
    /// disk refuses the plan, the end is still done at once, and ``diskFailure`` says why.
    func end(status: RunStatus, tags: [KeyValue], uploadWeights: Bool) async -> Ending {
        flushSamples()
        var uploads: [String: String] = [logFile: "logs/train.log"]
        let lastPt = (saveDir as NSString).appendingPathComponent("weights/last.pt")
        if uploadWeights { uploads[lastPt] = "weights/last.pt" }
        let plan = EndPlan(
            runId: run.runId, artifactURI: run.artifactURI, status: status.rawValue, tags: tags, uploads: uploads,
            endTime: mlflowTimestamp())
        let record = journalPlan { .end(seq: $0, plan) }
        do {
            try await waitForServer(then: "end the run \(status.rawValue)", timeout: min(outageWait, .seconds(15)))
            let outcome = try await makeFinisher().end(plan)
            control.recordEnd(status)
            if let record { try? journal.markDelivered(through: record.seq) }
            released()
            return .ended(outcome)
        } catch {
            notice("Run \(run.runId) could not be ended \(status.rawValue) on MLflow now (\(error)).")
            return .leftOpen(journaled: record != nil)
        }
    }

    static func format(_ value: Double) -> String {
        String(format: "%.6g", value)
    }
}

/// Runs `body` in a task that does not inherit cancellation, so a run still gets ended after
/// the caller was cancelled.
@discardableResult
func uncancelled<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
    await Task.detached { await body() }.value
}

func uncancelledThrowing<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await Task.detached { try await body() }.value
}

import Config
import Delivery
import Foundation
import Glibc
import GuardianFlowCore
import Logging
import MLflow
import PathSupport
import Registry
import SystemMonitoring

/// One run from the trainer's start to the run's end: the event loop and the live logging.
/// Its endings (FINISHED and registered, FAILED, KILLED) are in `TrainingSession+Endings.swift`;
/// the system metrics in ``TrainingMonitor``; the wait for an unanswering server in ``ServerWait``;
/// what the end records in ``RunSummary``.
final class TrainingSession: @unchecked Sendable {
    let client: MLflowClient
    let settings: Settings
    let python: PythonEnvironment
    let launcher: (any TrainerLauncher)?
    let control: TrainingControl
    let onProgress: @Sendable (TrainingProgress) -> Void
    /// Says what the user should know while the run goes on.
    let logger: Logger
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
    let runLogger: RunLogger
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
        logger: Logger, run: RunInfo, experimentName: String, options: TrainingOptions,
        dataset: TrainingInputValidator.Dataset, modelArch: String, saveDir: String, resuming: Bool,
        loggedParams: Set<String> = []
    ) throws {
        self.client = client
        self.settings = settings
        self.python = python
        self.launcher = launcher
        self.control = control
        self.onProgress = onProgress
        self.logger = logger
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
        self.runLogger = RunLogger(journal: journal, client: client, logger: logger)
        try RunLease.mine(
            runId: run.runId, experimentId: run.experimentId, artifactURI: run.artifactURI,
            trackingURI: TrackingURI.redact(client.trackingURI.baseURL)
        ).write(workDir: settings.workDir)
        runLogger.start()
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
        await runLogger.stop()
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
        if !resuming { await logDatasetInputs() }
        try? FileManager.default.createDirectory(atPath: FilePaths.parent(saveDir), withIntermediateDirectories: true)
        let trainerLauncher = launcher ?? PythonTrainerLauncher(python: python, workDir: settings.workDir)
        let trainer: any TrainerProcess
        do {
            trainer = try trainerLauncher.launch(job, logFile: logFile)
            logger.debug("Trainer started (process group \(trainer.processGroup.map(String.init) ?? "-")); its output goes to \(logFile).")
        } catch {
            let ending = await uncancelled { await self.endFailed(kind: "other", message: "\(error)", uploadWeights: false) }
            throw failure(GuardianFlowError.trainingFailed("The trainer could not start: \(error)\n\(ending.sentence(run.runId, .failed))"))
        }
        self.trainer = trainer
        control.attach(trainer)
        monitor = await TrainingMonitor.start(
            settings: settings, client: client, runId: run.runId, resuming: resuming, trainerGroup: trainer.processGroup,
            into: runLogger)
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
                KeyValue(key: "guardianflow.gpu_metrics", value: TrainingMonitor.watchGPU(started, monitor: monitor, settings: settings, logger: logger)),
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
        runLogger.log(metrics: metrics + (monitor?.drain() ?? []), params: params, tags: tags)
        if let error = runLogger.diskError { stopForDisk(error) }
    }

    /// The journal cannot be written: a training that went on would log into memory only, and
    /// its checkpoints would fail on the same disk. Stop it; `supervise` ends the run FAILED.
    func stopForDisk(_ error: GuardianFlowError) {
        guard diskFailure == nil else { return }
        diskFailure = error
        logger.error("Stopping the training: the run's journal cannot be written.")
        if let trainer {
            let grace = control.grace
            Task.detached { await trainer.stop(grace: grace) }
        }
    }

    /// The training and validation sets as the run's MLflow inputs (its Datasets section). A
    /// failure is a warning: the run's tags name the dataset and its SHA-256 all the same.
    func logDatasetInputs() async {
        do {
            try await client.with(retry: .interactive).logInputs(runId: run.runId, datasets: DatasetInputs.make(for: dataset))
        } catch {
            logger.warning("The run's Datasets section stays empty: MLflow did not take its dataset inputs (\(error)).")
        }
    }

    /// What the monitor still holds goes to the journal too.
    func flushSamples() {
        if let samples = monitor?.drain(), !samples.isEmpty { runLogger.log(metrics: samples) }
    }
}

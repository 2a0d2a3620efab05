import Artifacts
import Config
import Delivery
import Foundation
import Glibc
import GuardianFlowCore
import Logging
import MLflow
import PathSupport
import Tracking

/// One YOLO training, recorded in MLflow and registered as the `candidate` (ARCHITECTURE.md, "One `train`").
///
/// ```swift
/// let result = try await TrainingRunner(experimentName: "ppe", modelArch: "yolov8n.yaml",
///                                       dataYAML: "site-a/data.yaml").run(epochs: 50, batchSize: 16)
/// print(result.model?.version ?? "-")
/// ```
///
/// Inputs are validated before anything is written to MLflow. A failure ends the run FAILED,
/// a stop (``TrainingControl``, SIGINT/SIGTERM, task cancellation) ends it KILLED; either way
/// the log and whatever weights exist are uploaded and the trainer's process group is gone.
public struct TrainingRunner: Sendable {
    public var experimentName: String
    public var modelArch: String
    public var dataYAML: String
    /// Loaded from the environment and config file when nil.
    public var settings: Settings?
    /// How the trainer is started; the Python bridge in the project venv when nil.
    public var launcher: (any TrainerLauncher)?
    public var control: TrainingControl
    /// Called on each step worth showing.
    public var onProgress: @Sendable (TrainingProgress) -> Void
    /// Says what the user should know (the local server being started, MLflow not answering)
    /// and, at debug level, what the training does.
    public var logger: Logger
    /// Whether `--device` is checked against this machine's GPUs. `submit` to a cluster turns it
    /// off: the job's node has the GPUs, and checks them when the job starts.
    public var checksGPUsHere = true

    public init(
        experimentName: String, modelArch: String = TrainingOptions.defaultModel, dataYAML: String, settings: Settings? = nil,
        control: TrainingControl = TrainingControl(),
        onProgress: @escaping @Sendable (TrainingProgress) -> Void = { _ in },
        logger: Logger = GuardianFlowLogging.logger("training")
    ) {
        self.experimentName = experimentName
        self.modelArch = modelArch
        self.dataYAML = dataYAML
        self.settings = settings
        self.control = control
        self.onProgress = onProgress
        self.logger = logger
    }

    /// Trains, logs, uploads, registers.
    ///
    /// - Throws: ``GuardianFlowError`` with the documented exit code: 65 bad input (nothing
    ///   written), 69/77 MLflow unreachable or refusing, 3 training failed, 4 out of memory,
    ///   130/143 stopped.
    /// - Parameters:
    ///   - epochs: overrides `options.epochs` when given.
    ///   - batchSize: overrides `options.batch` when given.
    public func run(epochs: Int? = nil, batchSize: Int? = nil, options: TrainingOptions = TrainingOptions()) async throws
        -> TrainingResult
    {
        var options = options
        options.epochs = epochs ?? options.epochs
        options.batch = batchSize ?? options.batch
        do {
            return try await start(options: options)
        } catch is CancellationError {
            throw GuardianFlowError.interrupted(signal: SIGINT, "Cancelled before the training started; no run was left open.")
        }
    }

    /// Everything checked and ready before a run is created: the inputs, the server, the experiment.
    struct Prepared {
        var settings: Settings
        var python: PythonEnvironment
        var client: MLflowClient
        var experiment: Experiment
        var dataset: TrainingInputValidator.Dataset
        var model: String
    }

    /// Validates the inputs (nothing is written when one is bad), connects, recovers what dead
    /// processes left, and gets the experiment, its artifact store checked.
    func prepare(options: TrainingOptions) async throws -> Prepared {
        let settings = try self.settings ?? ConfigLoader().load()
        let python = PythonEnvironment.locate(settings: settings)
        let checksGPUs = checksGPUsHere
        let validator = TrainingInputValidator(
            ultralyticsPackage: python.ultralyticsPackage(), visibleGPUs: { checksGPUs ? TrainingInputValidator.visibleGPUCount() : nil })
        try validator.validate(options: options)
        let model = try validator.validate(model: modelArch)
        guard python.exists else {
            throw GuardianFlowError.invalidInput(
                "No Python at \(python.python) to run ultralytics. Run scripts/setup, or set GUARDIANFLOW_PYTHON.")
        }
        let dataset = try await validateData(validator, python: python, settings: settings)

        try Self.checkWorkDir(settings.workDir)
        let connector = TrackingConnector(settings: settings, logger: logger)
        let client = try await connector.connect()
        await Self.recoverDeadRuns(settings: settings, client: client, logger: logger)
        // Refuse an artifact store we cannot write (wrong S3 credentials: exit 77) before anything
        // is created: a new experiment's artifacts land beside the Default experiment's.
        if try await client.getExperiment(named: experimentName) == nil,
            let defaultLocation = try? await client.getExperiment(id: "0").artifactLocation, defaultLocation.hasPrefix("s3://")
        {
            try await ArtifactStores.forArtifactURI(FilePaths.parent(defaultLocation), client: client, s3: settings.s3Configuration).preflight()
        }
        let experiment = try await TrainingExperiment.named(experimentName, client: client)
        try await ArtifactStores.forArtifactURI(experiment.artifactLocation, client: client, s3: settings.s3Configuration).preflight()
        return Prepared(settings: settings, python: python, client: client, experiment: experiment, dataset: dataset, model: model)
    }

    func start(options: TrainingOptions) async throws -> TrainingResult {
        let prepared = try await prepare(options: options)
        let (settings, python, client, experiment, dataset, model) = (
            prepared.settings, prepared.python, prepared.client, prepared.experiment, prepared.dataset, prepared.model
        )
        let runName = options.runName ?? Self.defaultRunName(modelArch: modelArch)
        var tags = await RunTags.standard(
            experimentCommand: "guardianflow train", options: options, modelArch: modelArch, dataset: dataset)
        tags["guardianflow.data"] = dataset.yamlPath
        tags["guardianflow.data_root"] = dataset.root
        // The lease comes before the run: if this process dies between the create and the run's
        // own lease, recovery finds the run by its create token and ends it.
        let createToken = UUID().uuidString
        let pending = RunLease.pending(
            experimentId: experiment.experimentId, createToken: createToken, trackingURI: TrackingURI.redact(client.trackingURI.baseURL))
        try pending.write(workDir: settings.workDir)
        let info: RunInfo
        do {
            info = try await client.createRun(experimentId: experiment.experimentId, runName: runName, tags: tags, createToken: createToken)
        } catch {
            // Refused outright: no run was made. Otherwise (no answer, a stop mid-call) the run may
            // exist, and the pending lease, left in place, lets the next recovery find and end it.
            if let refused = error as? MLflowError, let status = refused.status, (400..<500).contains(status) {
                pending.release(workDir: settings.workDir)
            }
            throw error
        }
        logger.debug("Run \(info.runId) created in experiment '\(experimentName)'; its artifacts go to \(info.artifactURI).")
        let saveDir = (settings.workDir as NSString).appendingPathComponent("runs/\(info.runId)")
        let job = TrainingJob(
            model: model, data: dataset.yamlPath, epochs: options.epochs, batch: options.batch, imgsz: options.imgsz,
            device: options.device, project: (settings.workDir as NSString).appendingPathComponent("runs"),
            name: info.runId, workers: options.workers, seed: options.seed,
            args: Self.extraArguments(options))
        let session: TrainingSession
        do {
            session = try TrainingSession(
                client: client.with(retry: Self.finishingRetry(settings)), settings: settings, python: python, launcher: launcher,
                control: control, onProgress: onProgress, logger: logger, run: info, experimentName: experimentName,
                options: options, dataset: dataset, modelArch: modelArch, saveDir: saveDir, resuming: false)
        } catch {
            // No journal or lease of its own: end the run here rather than leave it RUNNING (if
            // that fails too, the pending lease, left in place, lets the next recovery do it).
            if (try? await client.updateRun(runId: info.runId, status: .failed, endTime: mlflowTimestamp())) != nil {
                pending.release(workDir: settings.workDir)
            }
            throw GuardianFlowError.io("The work dir \(settings.workDir) cannot hold the run's journal or lease: \(error)")
        }
        pending.release(workDir: settings.workDir)  // the run's own lease holds it now
        return try await session.execute(job)
    }

    /// Continues a KILLED or FAILED run from its last.pt, in the same MLflow run: its metrics
    /// go on at the next epoch and the model is registered at the end as usual.
    public func resume(runId: String, options: TrainingOptions = TrainingOptions()) async throws -> TrainingResult {
        let settings = try self.settings ?? ConfigLoader().load()
        let python = PythonEnvironment.locate(settings: settings)
        let client = try await TrackingConnector(settings: settings, logger: logger).connect()
        await Self.recoverDeadRuns(settings: settings, client: client, logger: logger)
        let run: Run
        do {
            run = try await client.getRun(id: runId)
        } catch let error as MLflowError where error.isNotFound || error.errorCode == "INVALID_PARAMETER_VALUE" {
            throw GuardianFlowError.registryState("There is no run \(runId) on \(TrackingURI.redact(client.trackingURI.baseURL)).")
        }
        switch run.info.status {
        case .killed, .failed: break
        case .finished:
            throw GuardianFlowError.registryState("Run \(runId) already FINISHED; only a KILLED or FAILED run can be resumed.")
        default:
            throw GuardianFlowError.registryState(
                "Run \(runId) is \(run.info.status.rawValue); if the process that ran it is gone, end it first "
                    + "(guardianflow runs reap), then resume it.")
        }
        guard let dataPath = run.tags["guardianflow.data"], let arch = run.tags["model_arch"] else {
            throw GuardianFlowError.registryState("Run \(runId) was not made by guardianflow train; it cannot be resumed.")
        }
        let validator = TrainingInputValidator(ultralyticsPackage: python.ultralyticsPackage())
        // The device it is resumed on: the one given, else the one it trained on.
        let device = options.device ?? run.params["device"].flatMap { $0 == "None" ? nil : $0 }
        if let device { try validator.validate(device: device) }
        let dataset = try validator.validate(dataYAML: dataPath, root: run.tags["guardianflow.data_root"])
        let experiment = try await client.getExperiment(id: run.info.experimentId)
        try await TrainingExperiment.markKind(experiment, client: client)

        // last.pt: on disk when this machine ran it, else from the run's artifacts.
        let saveDir = (settings.workDir as NSString).appendingPathComponent("runs/\(runId)")
        let lastPt = (saveDir as NSString).appendingPathComponent("weights/last.pt")
        if !FileManager.default.fileExists(atPath: lastPt) {
            let store = try ArtifactStores.forArtifactURI(run.info.artifactURI, client: client, s3: settings.s3Configuration)
            guard try await store.exists("weights/last.pt") else {
                throw GuardianFlowError.registryState(
                    "Run \(runId) has no last.pt, neither in \(saveDir) nor among its artifacts; it stopped before its first epoch ended. Start a new training.")
            }
            logger.notice("Downloading last.pt of run \(runId) from its artifacts.")
            try await store.download("weights/last.pt", to: lastPt)
        }
        var options = options
        options.customer = options.customer ?? run.tags["customer"]
        options.task = options.task ?? run.tags["task"]
        options.modelName = options.modelName ?? run.tags["guardianflow.model_name"]
        let epochs = Int(run.params["epochs"] ?? "") ?? options.epochs
        let job = TrainingJob(
            model: lastPt, data: dataset.yamlPath, epochs: epochs, batch: Int(run.params["batch"] ?? "") ?? options.batch,
            imgsz: Int(run.params["imgsz"] ?? "") ?? options.imgsz, device: device,
            project: (settings.workDir as NSString).appendingPathComponent("runs"), name: runId, workers: options.workers,
            resume: lastPt)
        try Self.checkWorkDir(settings.workDir)
        // Journal and lease first, then RUNNING: a run this process reopens is always one that
        // recovery can end again.
        let session = try reopenSession(
            run, client: client, settings: settings, python: python, experimentName: experiment.name, options: options, dataset: dataset,
            modelArch: arch, saveDir: saveDir, resuming: true)
        do {
            try await client.updateRun(runId: runId, status: .running)
            try await client.setTag(runId: runId, key: "guardianflow.resumed_at", value: Date().formatted(.iso8601))
        } catch {
            // Back to how it was, if the server lets us; otherwise the lease lets recovery end it.
            await session.abandon(restoring: run.info.status)
            throw error
        }
        return try await session.execute(job)
    }

    /// Retries for what ends a run (uploads, registration): patient, but never longer than the
    /// outage wait, after which the journal's plan is left to `guardianflow sync`.
    /// The session of a run that already exists (resumed, or submitted and now attached): its
    /// journal and lease are made before it goes RUNNING.
    ///
    /// - Throws: ``GuardianFlowError/io(_:)`` when the work dir cannot hold them; the run stays as it is.
    func reopenSession(
        _ run: Run, client: MLflowClient, settings: Settings, python: PythonEnvironment, experimentName: String, options: TrainingOptions,
        dataset: TrainingInputValidator.Dataset, modelArch: String, saveDir: String, resuming: Bool
    ) throws -> TrainingSession {
        do {
            return try TrainingSession(
                client: client.with(retry: Self.finishingRetry(settings)), settings: settings, python: python, launcher: launcher,
                control: control, onProgress: onProgress, logger: logger, run: run.info, experimentName: experimentName,
                options: options, dataset: dataset, modelArch: modelArch, saveDir: saveDir, resuming: resuming,
                loggedParams: Set(run.params.keys))
        } catch {
            throw GuardianFlowError.io(
                "The work dir \(settings.workDir) cannot hold the journal or lease of run \(run.info.runId), which stays \(run.info.status.rawValue): \(error)")
        }
    }

    static func finishingRetry(_ settings: Settings) -> RetryPolicy {
        RetryPolicy(maxAttempts: RetryPolicy.patient.maxAttempts, budget: min(RetryPolicy.patient.budget, max(settings.outageWait, .seconds(3))))
    }

    /// The work dir must take the run's journal and lease before the run exists.
    static func checkWorkDir(_ workDir: String) throws {
        for directory in [RunJournal.directory(workDir: workDir), RunLease.directory(workDir: workDir)] {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw GuardianFlowError.invalidInput(
                    "The work dir \(workDir) is not writable (\(directory): \(error.localizedDescription)). "
                        + "Set GUARDIANFLOW_WORK_DIR (or --work-dir) to a folder guardianflow may write.")
            }
            guard access(directory, W_OK) == 0 else {
                throw GuardianFlowError.invalidInput(
                    "The work dir \(workDir) is not writable (\(directory)). Set GUARDIANFLOW_WORK_DIR (or --work-dir) to a folder "
                        + "guardianflow may write.")
            }
        }
    }

    /// The data YAML validated: a file, or the name of one of ultralytics' datasets, found (and,
    /// when downloads are allowed, fetched) where the trainer will find it.
    func validateData(_ validator: TrainingInputValidator, python: PythonEnvironment, settings: Settings) async throws
        -> TrainingInputValidator.Dataset
    {
        guard DatasetLocator.isName(dataYAML) else { return try validator.validate(dataYAML: dataYAML) }
        let launcher = PythonTrainerLauncher(python: python, workDir: settings.workDir)
        try? FileManager.default.createDirectory(atPath: launcher.configDirectory, withIntermediateDirectories: true)
        let locator = DatasetLocator(
            python: python, environment: launcher.childEnvironment(),
            downloadsAllowed: !DatasetLocator.offline(ProcessInfo.processInfo.environment), logger: logger)
        let located = try await locator.locate(dataYAML)
        return try validator.validate(dataYAML: located.yaml, root: located.root)
    }

    /// What earlier guardianflow processes on this machine left undone: their journals are
    /// delivered and their zombie runs ended KILLED, before a new training starts.
    static func recoverDeadRuns(settings: Settings, client: MLflowClient, logger: Logger) async {
        var recovery = RunRecovery(settings: settings, client: client, logger: logger)
        recovery.patience = .seconds(5)
        for outcome in await recovery.recover(reap: true) where outcome.action != .skipped || outcome.exitCode != nil {
            logger.notice("Run \(outcome.runId), left by a guardianflow process that is gone: \(outcome.detail).")
        }
    }

    static func defaultRunName(modelArch: String) -> String {
        let stem = ((modelArch as NSString).lastPathComponent as NSString).deletingPathExtension
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return "\(stem)-\(formatter.string(from: Date()))"
    }

    static func extraArguments(_ options: TrainingOptions) -> [String: JSONArgument] {
        var args = options.extraArguments.mapValues { JSONArgument(parsing: $0) }
        if let lr = options.learningRate { args["lr0"] = .number(lr) }
        return args
    }
}

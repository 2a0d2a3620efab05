import ArgumentParser
import Foundation
import GuardianFlow

struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a YOLO detector, track it live in MLflow and register it as the candidate.",
        discussion: """
            Runs ultralytics in a child process, logs every effective argument as a param and each \
            epoch's metrics (step = epoch), uploads weights, results and plots with their SHA-256, \
            registers the best weights as a new model version and points the alias `candidate` at it.

            Everything is checked before anything is written to MLflow. Ctrl-C or SIGTERM stops the \
            trainer, ends the run KILLED (exit 130/143) and keeps last.pt, so that \
            `guardianflow train --resume RUN_ID` can continue it with the run's own data, model and \
            hyperparameters (only --device and --workers may change).

            With --json, stdout gets one object: {"run_id", "status", "metrics", "model"}; when the \
            training does not finish, "model" is null and "error" says why (the exit code is the same).

            Exit codes: 0 done, 3 training failed, 4 out of memory, 6 a run --resume cannot continue, \
            64 usage, 65 bad input (nothing written), 69 MLflow unreachable, 74 the work dir's disk \
            failed (full or read-only: the journal cannot be written), 77 credentials refused, \
            130/143 interrupted.

            --model defaults to yolov8n.yaml, trained from scratch; give a local .pt to fine-tune. \
            --data takes a dataset YAML, or the name of an ultralytics dataset (coco8.yaml, \
            coco128.yaml), looked for in ultralytics' datasets_dir; when it is not there and downloads \
            are off (YOLO_OFFLINE=1) the training is refused before any run exists.

            Examples:
              guardianflow train --experiment ppe --data site-a/data.yaml \\
                --model yolov8n.yaml --epochs 100 --batch 16 \\
                --customer donghwa-entec --task ppe
              guardianflow train --experiment test --data coco128.yaml --epochs 1 --batch 8
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "The MLflow experiment, created when missing (required unless --resume).") var experiment: String?
    @Option(
        help: ArgumentHelp(
            "The dataset YAML with train:, val:, names:, or the name of one of ultralytics' datasets (coco8.yaml, coco128.yaml: "
                + "found in its datasets_dir; required unless --resume).", valueName: "data.yaml"))
    var data: String?
    @Option(
        help: ArgumentHelp(
            "The model: a config such as yolov8n.yaml trains from scratch (the default: yolov8n.yaml); a local .pt fine-tunes "
                + "those weights (e.g. --model weights/yolov8n.pt). Weights are never downloaded.", valueName: "arch"))
    var model: String?
    @Option(help: "Epochs to train (default: 100).") var epochs: Int?
    @Option(parsing: .unconditional, help: "Batch size (default: 16); -1 lets ultralytics pick one that fits, with --device N.")
    var batch: Int?
    @Option(help: "Image size in pixels (default: 640).") var imgsz: Int?
    @Option(help: "Initial learning rate (ultralytics' lr0; default: ultralytics' 0.01).") var lr: Double?
    @Option(help: "cpu, or one GPU index such as 0 or cuda:0 (default: ultralytics' choice, the first GPU if any). One GPU per training: several (0,1) are refused.") var device: String?
    @Option(help: "Dataloader workers.") var workers: Int?
    @Option(help: "Random seed.") var seed: Int?
    @Option(help: "The customer, recorded as a tag.") var customer: String?
    @Option(help: "The task, recorded as a tag.") var task: String?
    @Option(help: "The registered model (default: <customer>-<task>, else the experiment).") var modelName: String?
    @Option(help: "The run's name (default: <arch>-<date>).") var runName: String?
    @Option(name: .customLong("tag"), help: ArgumentHelp("A run tag, repeatable.", valueName: "key=value")) var tags: [String] = []
    @Option(name: .customLong("arg"), help: ArgumentHelp("An extra ultralytics argument, repeatable (e.g. plots=false).", valueName: "key=value"))
    var arguments: [String] = []
    @Option(
        help: ArgumentHelp(
            "Continue a KILLED or FAILED run from its last.pt, with its own data, model and hyperparameters.", valueName: "run-id"))
    var resume: String?
    @Option(
        help: ArgumentHelp(
            "Seconds between system/GPU metric samples (default 10, from system_metrics_interval); 0 turns them off.",
            valueName: "seconds"))
    var systemMetricsInterval: String?
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if resume != nil {
            // The run's params are fixed in MLflow, and ultralytics resumes with the checkpoint's own.
            let fixed: [(String, Bool)] = [
                ("--experiment", experiment != nil), ("--data", data != nil), ("--model", model != nil), ("--epochs", epochs != nil),
                ("--batch", batch != nil), ("--imgsz", imgsz != nil), ("--lr", lr != nil), ("--seed", seed != nil),
                ("--run-name", runName != nil), ("--tag", !tags.isEmpty), ("--arg", !arguments.isEmpty),
            ]
            let given = fixed.filter(\.1).map(\.0)
            if !given.isEmpty {
                throw ValidationError(
                    "--resume continues the run with its own settings, so \(given.joined(separator: ", ")) cannot be given with it "
                        + "(only --device, --workers and the registry options may change). To change them, start a new training.")
            }
        } else {
            guard experiment != nil else { throw ValidationError("Missing --experiment NAME (or --resume RUN_ID).") }
            guard data != nil else {
                throw ValidationError("Missing --data DATA.yaml (a dataset YAML, or the name of an ultralytics dataset such as coco8.yaml).")
            }
        }
        for pair in tags + arguments where !pair.contains("=") || pair.hasPrefix("=") {
            throw ValidationError("'\(pair)' must be key=value.")
        }
    }

    func parsePairs(_ pairs: [String]) -> [String: String] {
        var out: [String: String] = [:]
        for pair in pairs {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            out[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return out
    }

    func run() async throws {
        var options = TrainingOptions()
        options.imgsz = imgsz ?? options.imgsz
        options.learningRate = lr
        options.device = device
        options.workers = workers
        options.seed = seed
        options.customer = customer
        options.task = task
        options.modelName = modelName
        options.runName = runName
        options.tags = parsePairs(tags)
        options.extraArguments = parsePairs(arguments)

        let control = TrainingControl()
        let interrupts = InterruptHandler(control: control) { signal in
            log.notice(signal == 15 ? "SIGTERM: stopping the trainer…" : "Ctrl-C: stopping the trainer…")
        }
        defer { withExtendedLifetime(interrupts) {} }
        try await global.run(flags: systemMetricsInterval.map { [.systemMetricsInterval: $0] } ?? [:]) { settings in
            let display = ProgressDisplay()
            let runner = TrainingRunner(
                experimentName: experiment ?? "", modelArch: model ?? TrainingOptions.defaultModel, dataYAML: data ?? "", settings: settings, control: control,
                onProgress: { display.show($0) })
            let result: TrainingResult
            do {
                if let resume {
                    result = try await runner.resume(runId: resume, options: options)
                } else {
                    result = try await runner.run(epochs: epochs, batchSize: batch, options: options)
                }
            } catch {
                Console.endLiveLine()
                reportFailure(error, seen: display.lastSeen, ended: control.endedStatus?.rawValue)
                throw error
            }
            Console.endLiveLine()
            try report(result, settings: settings)
        }
    }

    /// With --json, a training that got as far as creating its run still says which run it was.
    /// - Parameter ended: the status this process gave the run on the server; nil when its end was
    ///   left to `guardianflow sync` (or the run was never changed).
    func reportFailure(_ error: any Error, seen: (runId: String?, metrics: TrainingMetrics?), ended: String?) {
        guard output.json, let runId = seen.runId ?? resume else { return }
        let wrapped = GuardianFlowError.wrap(error)
        try? Console.json(
            JSONResult(
                run_id: runId, status: ended, metrics: seen.metrics?.all ?? [:], model: nil,
                error: .init(exit_code: wrapped.exitCode, message: Redaction.redactURIs(wrapped.description))))
    }

    struct JSONResult: Encodable {
        struct Model: Encodable {
            var name: String
            var version: String
            var alias: String?
        }
        struct Failure: Encodable {
            var exit_code: Int32
            var message: String
        }
        var run_id: String
        var status: String?
        /// The best epoch's seven metrics (null where unknown); the last epoch's when the training did not finish.
        var metrics: [String: Double?]
        var model: Model?
        var error: Failure? = nil

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(run_id, forKey: .run_id)
            try c.encode(status, forKey: .status)
            try c.encode(metrics, forKey: .metrics)
            try c.encode(model, forKey: .model)
            try c.encodeIfPresent(error, forKey: .error)
        }

        enum CodingKeys: String, CodingKey { case run_id, status, metrics, model, error }
    }

    func report(_ result: TrainingResult, settings: Settings) throws {
        if output.json {
            try Console.json(
                JSONResult(
                    run_id: result.runId, status: result.status.rawValue, metrics: result.metrics.all,
                    model: result.model.map { .init(name: $0.name, version: $0.version, alias: $0.alias) }))
            return
        }
        let uri = settings.trackingURI.map { Redaction.redactURIs($0) } ?? "http://127.0.0.1:\(settings.serverPort)"
        let m = result.metrics
        func f(_ v: Double?) -> String { v.map { String(format: "%.4f", $0) } ?? "-" }
        Console.out("Run \(result.runId) \(result.status.rawValue) after \(result.epochsCompleted) epochs.")
        Console.out("  best: mAP50-95 \(f(m.mAP50_95))  mAP50 \(f(m.mAP50))  precision \(f(m.precision))  recall \(f(m.recall))")
        if let model = result.model {
            Console.out("  registered: \(model.name) version \(model.version) as @\(model.alias ?? "-")  (\(model.uri))")
            Console.out("  promote it: guardianflow promote \(model.name)")
        }
        Console.out("  weights sha256: \(result.weightsSHA256 ?? "-")")
        Console.out("  MLflow UI: \(uri.hasSuffix("/") ? String(uri.dropLast()) : uri)/#/experiments/\(result.experimentId)/runs/\(result.runId)")
    }
}

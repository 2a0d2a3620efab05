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

    @OptionGroup var training: TrainingFlags
    @Option(
        help: ArgumentHelp(
            "Continue a KILLED or FAILED run from its last.pt, with its own data, model and hyperparameters.", valueName: "run-id"))
    var resume: String?
    @Option(
        help: ArgumentHelp(
            "Train the SCHEDULED run RUN_ID that `guardianflow submit` created (what a submitted job runs; give the same options "
                + "as the submit).", valueName: "run-id"))
    var attach: String?
    @OptionGroup var output: OutputOptions

    var experiment: String? { training.experiment }
    var data: String? { training.data }
    var model: String? { training.model }

    func validate() throws {
        let (experiment, data, model, epochs, batch, imgsz, lr, seed, runName, tags, arguments) = (
            training.experiment, training.data, training.model, training.epochs, training.batch, training.imgsz, training.lr, training.seed,
            training.runName, training.tags, training.arguments
        )
        if resume != nil && attach != nil { throw ValidationError("--resume and --attach contradict each other; give one of them.") }
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
                throw ValidationError(
                    "Missing --data DATA.yaml (a dataset YAML, or the name of an ultralytics dataset such as coco8.yaml).")
            }
        }
        try training.validatePairs()
    }

    func run() async throws {
        let options = training.options

        let control = TrainingControl()
        let interrupts = InterruptHandler(control: control) { signal in
            log.notice(signal == 15 ? "SIGTERM: stopping the trainer…" : "Ctrl-C: stopping the trainer…")
        }
        defer { withExtendedLifetime(interrupts) {} }
        try await global.run(flags: training.systemMetricsInterval.map { [.systemMetricsInterval: $0] } ?? [:]) { settings in
            let display = ProgressDisplay()
            let runner = TrainingRunner(
                experimentName: experiment ?? "", modelArch: model ?? TrainingOptions.defaultModel, dataYAML: data ?? "",
                settings: settings, control: control,
                onProgress: { display.show($0) })
            let result: TrainingResult
            do {
                if let resume {
                    result = try await runner.resume(runId: resume, options: options)
                } else if let attach {
                    result = try await JobSide.attach(runner: runner, runId: attach, options: options, settings: settings)
                } else {
                    result = try await runner.run(options: options)
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
        guard output.json, let runId = seen.runId ?? resume ?? attach else { return }
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
        Console.out(
            "  MLflow UI: \(uri.hasSuffix("/") ? String(uri.dropLast()) : uri)/#/experiments/\(result.experimentId)/runs/\(result.runId)")
    }
}

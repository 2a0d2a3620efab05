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
            `guardianflow train --resume RUN_ID` can continue it.

            Example:
              guardianflow train --experiment ppe --data site-a/data.yaml --model yolov8n.yaml \\
                  --epochs 100 --batch 16 --customer donghwa-entec --task ppe
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "The MLflow experiment (created when missing).") var experiment: String?
    @Option(help: ArgumentHelp("The dataset YAML (train:, val:, names:).", valueName: "data.yaml")) var data: String?
    @Option(help: ArgumentHelp("A model config such as yolov8n.yaml (from scratch) or local .pt weights.", valueName: "arch"))
    var model: String?
    @Option(help: "Epochs to train.") var epochs = 100
    @Option(parsing: .unconditional, help: "Batch size; -1 lets ultralytics pick (GPU only).") var batch = 16
    @Option(help: "Image size in pixels.") var imgsz = 640
    @Option(help: "Initial learning rate (ultralytics' lr0).") var lr: Double?
    @Option(help: "cpu, or a GPU index such as 0.") var device: String?
    @Option(help: "Dataloader workers.") var workers: Int?
    @Option(help: "Random seed.") var seed: Int?
    @Option(help: "The customer, recorded as a tag.") var customer: String?
    @Option(help: "The task, recorded as a tag.") var task: String?
    @Option(help: "The registered model (default: <customer>-<task>, else the experiment).") var modelName: String?
    @Option(help: "The run's name (default: <arch>-<date>).") var runName: String?
    @Option(name: .customLong("tag"), help: ArgumentHelp("A run tag, repeatable.", valueName: "key=value")) var tags: [String] = []
    @Option(name: .customLong("arg"), help: ArgumentHelp("An extra ultralytics argument, repeatable (e.g. plots=false).", valueName: "key=value"))
    var arguments: [String] = []
    @Option(help: ArgumentHelp("Continue a KILLED or FAILED run from its last.pt.", valueName: "run-id")) var resume: String?
    @Option(
        help: ArgumentHelp(
            "Seconds between system/GPU metric samples (default 10, from system_metrics_interval); 0 turns them off.",
            valueName: "seconds"))
    var systemMetricsInterval: String?
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if resume == nil {
            guard experiment != nil else { throw ValidationError("Missing --experiment NAME (or --resume RUN_ID).") }
            guard data != nil else { throw ValidationError("Missing --data DATA.yaml.") }
            guard model != nil else { throw ValidationError("Missing --model ARCH (e.g. yolov8n.yaml or a local .pt).") }
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
        let settings = try await loadSettings(global, flags: systemMetricsInterval.map { [.systemMetricsInterval: $0] } ?? [:])
        var options = TrainingOptions()
        options.imgsz = imgsz
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
        let display = ProgressDisplay(json: output.json)
        var runner = TrainingRunner(
            experimentName: experiment ?? "", modelArch: model ?? "", dataYAML: data ?? "", settings: settings, control: control,
            onProgress: { display.show($0) }, notice: { display.notice($0) })
        runner.settings = settings
        let interrupts = InterruptHandler(control: control) { signal in
            display.notice(signal == 15 ? "SIGTERM: stopping the trainer…" : "Ctrl-C: stopping the trainer…")
        }
        try await runReporting(settings) {
            defer { withExtendedLifetime(interrupts) {} }
            let result: TrainingResult
            if let resume {
                result = try await runner.resume(runId: resume, options: options)
            } else {
                result = try await runner.run(epochs: epochs, batchSize: batch, options: options)
            }
            display.finish()
            try report(result, settings: settings)
        }
    }

    struct JSONResult: Encodable {
        struct Model: Encodable {
            var name: String
            var version: String
            var alias: String?
        }
        var run_id: String
        var status: String
        var metrics: [String: Double]
        var model: Model?
    }

    func report(_ result: TrainingResult, settings: Settings) throws {
        if output.json {
            try Console.json(
                JSONResult(
                    run_id: result.runId, status: result.status.rawValue, metrics: result.metrics.dictionary(),
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
        Console.out("  MLflow UI: \(uri)/#/experiments/\(result.experimentId)/runs/\(result.runId)")
    }
}

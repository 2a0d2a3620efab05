import ArgumentParser
import Foundation
import GuardianFlow

/// A training's options, shared by `train` and `submit`.
struct TrainingFlags: ParsableArguments {
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
    @Option(
        help:
            "cpu, a GPU index such as 0 or cuda:0, or several (0,1) for ultralytics' multi-GPU (DDP) training, each GPU metered (default: ultralytics' choice, the first GPU if any)."
    ) var device: String?
    @Option(help: "Dataloader workers.") var workers: Int?
    @Option(help: "Random seed.") var seed: Int?
    @Option(help: "The customer, recorded as a tag.") var customer: String?
    @Option(help: "The task, recorded as a tag.") var task: String?
    @Option(help: "The registered model (default: <customer>-<task>, else the experiment).") var modelName: String?
    @Option(help: "The run's name (default: <arch>-<date>).") var runName: String?
    @Option(name: .customLong("tag"), help: ArgumentHelp("A run tag, repeatable.", valueName: "key=value")) var tags: [String] = []
    @Option(
        name: .customLong("arg"),
        help: ArgumentHelp("An extra ultralytics argument, repeatable (e.g. plots=false).", valueName: "key=value"))
    var arguments: [String] = []
    @Option(
        help: ArgumentHelp(
            "Seconds between system/GPU metric samples (default 10, from system_metrics_interval); 0 turns them off.",
            valueName: "seconds"))
    var systemMetricsInterval: String?

    func validatePairs() throws {
        for pair in tags + arguments where !pair.contains("=") || pair.hasPrefix("=") {
            throw ValidationError("'\(pair)' must be key=value.")
        }
    }

    static func parsePairs(_ pairs: [String]) -> [String: String] {
        var out: [String: String] = [:]
        for pair in pairs {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            out[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return out
    }

    /// The options, with the defaults for what is not given.
    var options: TrainingOptions {
        var options = TrainingOptions()
        options.epochs = epochs ?? options.epochs
        options.batch = batch ?? options.batch
        options.imgsz = imgsz ?? options.imgsz
        options.learningRate = lr
        options.device = device
        options.workers = workers
        options.seed = seed
        options.customer = customer
        options.task = task
        options.modelName = modelName
        options.runName = runName
        options.tags = Self.parsePairs(tags)
        options.extraArguments = Self.parsePairs(arguments)
        return options
    }

    /// The same options as `train` arguments for a job that runs elsewhere: paths made absolute
    /// (a data or model name that is no file here stays a name).
    var commandLine: [String] {
        func path(_ value: String) -> String {
            FileManager.default.fileExists(atPath: value) ? FilePaths.absolute(value) : value
        }
        var out: [String] = []
        func add(_ flag: String, _ value: String?) { if let value { out += [flag, value] } }
        add("--experiment", experiment)
        add("--data", data.map(path))
        add("--model", model.map(path))
        add("--epochs", epochs.map(String.init))
        add("--batch", batch.map(String.init))
        add("--imgsz", imgsz.map(String.init))
        add("--lr", lr.map { String($0) })
        add("--device", device)
        add("--workers", workers.map(String.init))
        add("--seed", seed.map(String.init))
        add("--customer", customer)
        add("--task", task)
        add("--model-name", modelName)
        add("--run-name", runName)
        for tag in tags { add("--tag", tag) }
        for argument in arguments { add("--arg", argument) }
        add("--system-metrics-interval", systemMetricsInterval)
        return out
    }
}

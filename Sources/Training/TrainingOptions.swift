import Foundation

/// What a training is asked to do, beyond the experiment, model and data.
public struct TrainingOptions: Sendable, Equatable {
    /// The model `train` builds when none is given: yolov8n's config, trained from scratch.
    public static let defaultModel = "yolov8n.yaml"

    /// ultralytics' default is 100.
    public var epochs: Int = 100
    /// 16 by default; -1 lets ultralytics pick (AutoBatch, GPU only).
    public var batch: Int = 16
    public var imgsz: Int = 640
    /// The initial learning rate (`lr0`); ultralytics' default when nil.
    public var learningRate: Double?
    /// `cpu`, `0`, `cuda:0`; ultralytics picks when nil.
    public var device: String?
    public var workers: Int?
    public var seed: Int?
    public var customer: String?
    public var task: String?
    /// The registered model's name; else `<customer>-<task>`, else the experiment's name.
    public var modelName: String?
    /// Extra run tags.
    public var tags: [String: String] = [:]
    /// Extra ultralytics arguments (`plots: false`).
    public var extraArguments: [String: String] = [:]
    /// The run's name; ultralytics-style `<arch>-<date>` when nil.
    public var runName: String?

    public init() {}

    /// The registered model's name for an experiment.
    public func registeredModelName(experiment: String) -> String {
        if let modelName, !modelName.isEmpty { return modelName }
        if let customer, let task, !customer.isEmpty, !task.isEmpty { return "\(customer)-\(task)" }
        return experiment
    }
}

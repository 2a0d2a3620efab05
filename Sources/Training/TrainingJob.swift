import Foundation

/// The job spec the trainer bridge reads (`python -m guardianflow_trainer --job FILE`).
public struct TrainingJob: Codable, Sendable, Equatable {
    public var model: String
    public var data: String
    public var epochs: Int
    public var batch: Int
    public var imgsz: Int
    public var device: String?
    /// ultralytics' save dir is `project/name`.
    public var project: String
    public var name: String
    public var workers: Int?
    /// A last.pt to continue from.
    public var resume: String?
    public var seed: Int?
    /// Extra ultralytics train arguments.
    public var args: [String: JSONArgument]

    public init(
        model: String, data: String, epochs: Int, batch: Int, imgsz: Int, device: String?, project: String, name: String,
        workers: Int? = nil, resume: String? = nil, seed: Int? = nil, args: [String: JSONArgument] = [:]
    ) {
        self.model = model
        self.data = data
        self.epochs = epochs
        self.batch = batch
        self.imgsz = imgsz
        self.device = device
        self.project = project
        self.name = name
        self.workers = workers
        self.resume = resume
        self.seed = seed
        self.args = args
    }

    /// The folder ultralytics writes to.
    public var saveDir: String { (project as NSString).appendingPathComponent(name) }
}

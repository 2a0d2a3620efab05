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

/// An extra ultralytics argument: `--arg lr0=0.01` arrives as text and is sent typed.
public enum JSONArgument: Codable, Sendable, Equatable {
    case string(String)
    case number(Double)
    case bool(Bool)

    /// Reads `true`/`false`, numbers, and anything else as a string.
    public init(parsing text: String) {
        switch text.lowercased() {
        case "true": self = .bool(true)
        case "false": self = .bool(false)
        default: self = Double(text).map { .number($0) } ?? .string(text)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let s): try container.encode(s)
        case .number(let n):
            if n == n.rounded(), abs(n) < 1e15 { try container.encode(Int64(n)) } else { try container.encode(n) }
        case .bool(let b): try container.encode(b)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? container.decode(Double.self) {
            self = .number(n)
        } else {
            self = .string(try container.decode(String.self))
        }
    }
}

import Config
import Foundation
import GuardianFlowCore
import Logging

/// What a run's checkpoint (`weights/last.pt`, `best.pt`) says, read by the venv's Python
/// (`python -m guardianflow_trainer.checkpoints`): torch pickles cannot be read otherwise. The
/// model's own classes are not built, so YOLOv5 checkpoints read without YOLOv5 installed.
public struct CheckpointInfo: Sendable, Equatable, Decodable {
    public var path: String
    public var ok: Bool
    public var error: String?
    /// -1 once the optimizer was stripped at the end of a training.
    public var epoch: Int?
    /// ISO 8601, when the checkpoint was written (with its offset from ultralytics 8.3.x on).
    public var date: String?
    /// The ultralytics version that wrote it.
    public var version: String?
    public var hasOptimizer: Bool?
    public var stopperBestEpoch: Int?
    /// The training arguments (ultralytics' `train_args`, YOLOv5's `opt`), as JSON values.
    public var trainArgs: [String: ParamValue]?

    enum CodingKeys: String, CodingKey {
        case path, ok, error, epoch, date, version
        case hasOptimizer = "has_optimizer"
        case stopperBestEpoch = "stopper_best_epoch"
        case trainArgs = "train_args"
    }

    public init(path: String, ok: Bool = true, epoch: Int? = nil, date: String? = nil, version: String? = nil, hasOptimizer: Bool? = nil) {
        self.path = path
        self.ok = ok
        self.epoch = epoch
        self.date = date
        self.version = version
        self.hasOptimizer = hasOptimizer
    }

    /// Whether the training that wrote it completed: its optimizer was stripped.
    public var stripped: Bool { ok && (epoch == -1 || hasOptimizer == false) }

    /// ``date`` as a time; a date without an offset is read in this machine's time zone.
    public var writtenAt: Date? { date.flatMap(Self.parseDate) }

    public static func parseDate(_ text: String) -> Date? {
        // Python writes microseconds, which the formatters below would cut to milliseconds: the
        // fraction is read apart, so the end time is the checkpoint's to the millisecond.
        var base = text
        var fraction = 0.0
        if let dot = text.firstIndex(of: ".") {
            let digits = text[text.index(after: dot)...].prefix { $0.isNumber }
            fraction = Double("0." + digits) ?? 0
            base = String(text[..<dot]) + String(text[text.index(after: dot)...].dropFirst(digits.count))
        }
        let withOffset = ISO8601DateFormatter()
        withOffset.formatOptions = [.withInternetDateTime]
        if let date = withOffset.date(from: base) { return date.addingTimeInterval(fraction) }
        let naive = DateFormatter()
        naive.locale = Locale(identifier: "en_US_POSIX")
        naive.timeZone = .current
        naive.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        return naive.date(from: base)?.addingTimeInterval(fraction)
    }
}

/// Reads checkpoints in one Python process.
public struct CheckpointReader: Sendable {
    let python: PythonEnvironment
    let logger: Logger

    public init(python: PythonEnvironment, logger: Logger = GuardianFlowLogging.logger("import")) {
        self.python = python
        self.logger = logger
    }

    /// path → what it says (an unreadable file gives `ok == false` with the reason).
    ///
    /// - Throws: ``GuardianFlowError/unavailable(_:)`` (69) when the venv's Python cannot run the reader.
    public func read(_ paths: [String]) async throws -> [String: CheckpointInfo] {
        guard !paths.isEmpty else { return [:] }
        guard python.exists else {
            throw GuardianFlowError.unavailable(
                "Reading the runs' checkpoints needs the project's Python (\(python.python)), which is not there. Run scripts/setup, or set "
                    + "GUARDIANFLOW_PYTHON.")
        }
        logger.debug("Reading \(paths.count) checkpoint(s) with \(python.python) -m guardianflow_trainer.checkpoints.")
        var environment = ProcessInfo.processInfo.environment
        environment["YOLO_OFFLINE"] = "1"
        let result = try await ChildProcess.run(
            python.python, ["-m", "guardianflow_trainer.checkpoints"] + paths, environment: environment, timeout: .seconds(600))
        guard result.exit.succeeded else {
            throw GuardianFlowError.unavailable(
                "The checkpoint reader failed (\(result.exit)): \(result.stderr.suffix(600)). Run scripts/setup to repair the venv.")
        }
        var out: [String: CheckpointInfo] = [:]
        for line in result.stdout.split(separator: "\n") {
            if let info = try? JSONDecoder().decode(CheckpointInfo.self, from: Data(line.utf8)) { out[info.path] = info }
        }
        return out
    }
}

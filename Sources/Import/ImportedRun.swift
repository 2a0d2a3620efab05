import Crypto
import Foundation
import MLflow

/// A run folder read whole, before anything is written to MLflow: what its MLflow run will hold.
public struct ImportedRun: Sendable {
    /// One epoch: its step (the 1-based epoch), when it ended, its metrics under guardianflow's names.
    public struct Epoch: Sendable, Equatable {
        public var step: Int64
        public var timestamp: Int64
        public var metrics: [String: Double]
        /// Its row in results.csv (0-based).
        public var row: Int
    }

    public var folder: RunFolder
    /// The ultralytics version that wrote it (from a checkpoint), or what its results.csv's format
    /// says (`≤8.3.8`, `≥8.3.9`); nil for YOLOv5.
    public var ultralyticsVersion: String?
    public var task: String?
    public var model: String?
    public var data: String?
    /// The training arguments, sorted by key.
    public var params: [KeyValue]
    /// The epochs of the training the folder's args and weights belong to.
    public var epochs: [Epoch]
    /// Rows of results.csv in all, and those of earlier trainings in the same folder (not imported).
    public var rowCount: Int
    public var firstRow: Int
    public var plannedEpochs: Int?
    public var status: RunStatus
    public var statusReason: String
    public var timeline: RunTimeline
    /// The best epoch (by ultralytics' fitness, 0.1 mAP50 + 0.9 mAP50-95) in guardianflow's names.
    public var best: [String: Double]
    /// The files to upload: local path → artifact path.
    public var artifacts: [(local: String, path: String)]
    /// The folder's `save_dir` when it trained (from its args), where it differs from today's path.
    public var savedAs: String?
    /// Where it came from, whatever its path today: format, its `save_dir` then, its first epoch.
    public var origin: String
    /// What it holds: its rows, status, weights and args.
    public var content: String
    /// SHA-256 of the normalized rows of results.csv, for ``rowsDigest(_:)``.
    let normalizedRows: [String]

    public var lastEpoch: Int { Int(epochs.last?.step ?? 0) }
    public var bestMAP50_95: Double? { epochs.compactMap { $0.metrics["mAP50_95"] }.max() }
    public var hasBestWeights: Bool { artifacts.contains { $0.path == "weights/best.pt" } }

    /// SHA-256 of the first `count` rows (normalized), hex.
    public func rowsDigest(_ count: Int) -> String {
        Self.sha256(normalizedRows.prefix(count).joined(separator: "\n"))
    }

    static func sha256(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

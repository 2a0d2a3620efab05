import Foundation

/// The detector's metrics under the names the MLflow UI charts.
public struct TrainingMetrics: Sendable, Equatable, Codable {
    public var mAP50: Double?
    public var mAP50_95: Double?
    public var precision: Double?
    public var recall: Double?
    public var boxLoss: Double?
    public var clsLoss: Double?
    public var dflLoss: Double?

    public init(
        mAP50: Double? = nil, mAP50_95: Double? = nil, precision: Double? = nil, recall: Double? = nil,
        boxLoss: Double? = nil, clsLoss: Double? = nil, dflLoss: Double? = nil
    ) {
        self.mAP50 = mAP50
        self.mAP50_95 = mAP50_95
        self.precision = precision
        self.recall = recall
        self.boxLoss = boxLoss
        self.clsLoss = clsLoss
        self.dflLoss = dflLoss
    }

    /// Reads ultralytics' names (`metrics/mAP50-95(B)`, `train/box_loss`).
    public init(ultralytics metrics: [String: Double]) {
        mAP50 = metrics["metrics/mAP50(B)"]
        mAP50_95 = metrics["metrics/mAP50-95(B)"]
        precision = metrics["metrics/precision(B)"]
        recall = metrics["metrics/recall(B)"]
        boxLoss = metrics["train/box_loss"]
        clsLoss = metrics["train/cls_loss"]
        dflLoss = metrics["train/dfl_loss"]
    }

    /// The metrics that are set, finite ones only, keyed `prefix + name` (`best/mAP50_95`).
    public func dictionary(prefix: String = "") -> [String: Double] {
        let pairs: [(String, Double?)] = [
            ("mAP50", mAP50), ("mAP50_95", mAP50_95), ("precision", precision), ("recall", recall),
            ("box_loss", boxLoss), ("cls_loss", clsLoss), ("dfl_loss", dflLoss),
        ]
        var out: [String: Double] = [:]
        for (name, value) in pairs {
            if let value, value.isFinite { out[prefix + name] = value }
        }
        return out
    }

    /// All seven metrics under their JSON names, nil where unknown: what `train --json` prints.
    public var all: [String: Double?] {
        [
            "mAP50": mAP50, "mAP50_95": mAP50_95, "precision": precision, "recall": recall, "box_loss": boxLoss, "cls_loss": clsLoss,
            "dfl_loss": dflLoss,
        ].mapValues { $0.flatMap { $0.isFinite ? $0 : nil } }
    }

    /// Every metric of one epoch event under guardianflow's names: the seven above, the
    /// validation losses as `val/…` and the learning rates as `lr/pg0…`.
    public static func epochMetrics(_ event: TrainerEvent.Epoch) -> [String: Double] {
        var out = TrainingMetrics(ultralytics: event.metrics).dictionary()
        for (key, value) in event.metrics where key.hasPrefix("val/") && value.isFinite {
            out[key] = value
        }
        for (key, value) in event.learningRates where value.isFinite {
            out[key] = value
        }
        return out
    }
}

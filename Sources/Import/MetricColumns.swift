import MLflow

/// `results.csv` columns → metric names, the same names and steps as `train` logs: `mAP50`,
/// `mAP50_95`, `precision`, `recall`, the training losses without their `train/` prefix
/// (`box_loss`), `val/…` and `lr/pg0…` as they are. Every other numeric column is kept under a
/// name MLflow accepts: segment, pose and OBB's `metrics/mAP50(M)` as `mAP50_M`, classify's
/// `metrics/accuracy_top1` as `accuracy_top1`.
public enum MetricColumns {
    static let named: [String: String] = [
        // ultralytics' box metrics
        "metrics/mAP50(B)": "mAP50", "metrics/mAP50-95(B)": "mAP50_95", "metrics/precision(B)": "precision",
        "metrics/recall(B)": "recall",
        // YOLOv5
        "metrics/mAP_0.5": "mAP50", "metrics/mAP_0.5:0.95": "mAP50_95", "metrics/precision": "precision", "metrics/recall": "recall",
        "x/lr0": "lr/pg0", "x/lr1": "lr/pg1", "x/lr2": "lr/pg2",
    ]

    /// The metric name of one column (`epoch` is the step and `time` the timestamp: neither is a
    /// metric).
    public static func metricName(_ column: String) -> String {
        if let name = named[column] { return name }
        if column.hasPrefix("train/") { return MLflowKey.sanitize(String(column.dropFirst("train/".count))) }
        if column.hasPrefix("metrics/") {
            var name = String(column.dropFirst("metrics/".count))
            // `mAP50-95(M)` → `mAP50_95_M`
            if name.hasSuffix(")"), let open = name.lastIndex(of: "(") {
                let suffix = name[name.index(after: open)..<name.index(before: name.endIndex)]
                name = String(name[..<open]) + "_" + suffix
            }
            return MLflowKey.sanitize(name.replacingOccurrences(of: "-", with: "_"))
        }
        return MLflowKey.sanitize(column)
    }

    /// Each column's metric name; a name two columns would share goes to the second one's
    /// sanitized header instead.
    public static func names(_ columns: [String]) -> [String: String] {
        var out: [String: String] = [:]
        var taken: Set<String> = []
        for column in columns where column != "epoch" {
            var name = metricName(column)
            if taken.contains(name) { name = MLflowKey.sanitize(column) }
            taken.insert(name)
            out[column] = name
        }
        return out
    }
}

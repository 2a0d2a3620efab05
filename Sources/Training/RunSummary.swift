import Delivery
import Foundation
import MLflow
import Registry
import SystemMonitoring

/// What a finished training records at its end: the best epoch's metrics (`best/…`) and the
/// system summary (`sys/…`) as metrics, and the same with the dataset and model as the tags of
/// the model version the finish plan registers.
struct RunSummary {
    /// The best checkpoint's metrics.
    let best: TrainingMetrics
    /// The step the summary is logged at: the last epoch.
    let step: Int64
    /// `best/…` and `sys/…`.
    let metrics: [String: Double]

    init(_ finished: TrainerEvent.Finished, lastEpoch: Int, gpu: SystemSampler.GPUSummary?) {
        best = TrainingMetrics(ultralytics: finished.bestMetrics)
        step = Int64(max(finished.epochsCompleted, lastEpoch))
        var metrics = best.dictionary(prefix: "best/")
        let system = SystemMetrics(
            gpuMemoryUsedMB: gpu?.peakMemoryMB, gpuUtilizationPct: gpu?.meanUtilization, inferenceTimeMs: finished.speedMs["inference"],
            modelSizeMB: finished.best.flatMap { RunFinisher.fileSize($0) }.map { Double($0) / 1_000_000 })
        metrics.merge(system.dictionary()) { $1 }
        self.metrics = metrics
    }

    /// What a best mAP50 of 0 usually means, and what to try; nil when the model found something.
    var zeroMAPHint: String? {
        guard best.mAP50 == 0 else { return nil }
        return "The best mAP50 is 0: the model found none of the validation set's objects. The usual causes: too few epochs for "
            + "a model trained from scratch (yolov8n.yaml needs tens of epochs even on a small dataset: try --epochs 50, or "
            + "fine-tune a local .pt with --model), images too small for their objects (try a larger --imgsz, 640 for photos), "
            + "or labels that do not match the images (labels/…/NAME.txt beside images/…/NAME.jpg, class ids below the number "
            + "of names, coordinates between 0 and 1)."
    }

    /// The summary as metric points, in key order.
    func metricPoints(timestamp: Int64) -> [Metric] {
        metrics.sorted { $0.key < $1.key }.map { Metric(key: $0.key, value: $0.value, timestamp: timestamp, step: step) }
    }

    /// The tags of the model version: what it is, what it learned from, and how well it does.
    func versionTags(runId: String, modelArch: String, dataset: TrainingInputValidator.Dataset, options: TrainingOptions) -> [String: String] {
        var tags: [String: String] = [
            "model_arch": modelArch, "dataset": dataset.yamlPath, "dataset.sha256": dataset.contentHash, "guardianflow.run_id": runId,
        ]
        if let customer = options.customer { tags["customer"] = customer }
        if let task = options.task { tags["task"] = task }
        for (key, value) in metrics { tags[key] = String(format: "%.6g", value) }
        return tags
    }
}

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

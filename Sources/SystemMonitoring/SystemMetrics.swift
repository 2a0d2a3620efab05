import Foundation

/// The end-of-run summary logged under `sys/` (the first design's SystemMetrics): the peak
/// memory used on the training GPU, its mean utilization over the samples, the final
/// validation's inference time per image, and the size of best.pt. GPU figures are absent (not
/// zero) when no GPU was measured.
public struct SystemMetrics: Sendable, Equatable {
    public var gpuMemoryUsedMB: Double?
    public var gpuUtilizationPct: Double?
    public var inferenceTimeMs: Double?
    public var modelSizeMB: Double?

    public init(gpuMemoryUsedMB: Double? = nil, gpuUtilizationPct: Double? = nil, inferenceTimeMs: Double? = nil, modelSizeMB: Double? = nil) {
        self.gpuMemoryUsedMB = gpuMemoryUsedMB
        self.gpuUtilizationPct = gpuUtilizationPct
        self.inferenceTimeMs = inferenceTimeMs
        self.modelSizeMB = modelSizeMB
    }

    /// `sys/gpu_memory_used_mb`, `sys/gpu_utilization_pct`, `sys/inference_time_ms`, `sys/model_size_mb`,
    /// those that were measured.
    public func dictionary(prefix: String = "sys/") -> [String: Double] {
        var out: [String: Double] = [:]
        out[prefix + "gpu_memory_used_mb"] = gpuMemoryUsedMB
        out[prefix + "gpu_utilization_pct"] = gpuUtilizationPct
        out[prefix + "inference_time_ms"] = inferenceTimeMs
        out[prefix + "model_size_mb"] = modelSizeMB
        return out
    }
}

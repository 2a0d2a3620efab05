import Foundation

/// The server's limits on one `runs/log-batch` and on keys and values
/// (`mlflow/utils/validation.py`).
public struct LogBatchLimits: Sendable, Equatable {
    public var maxMetrics = 1000
    public var maxParams = 100
    public var maxTags = 100
    public var maxEntities = 1000
    /// The whole request body, in bytes; kept a little under the server's 1 MB.
    public var maxRequestBytes = 1_000_000 - 16 * 1024
    public var maxKeyLength = 250
    public var maxParamValueLength = 6000
    /// 8000 on MLflow 3.x, 5000 on 2.x.
    public var maxTagValueLength = 8000

    public init() {}

    /// The limits of an MLflow 2.x server.
    public static var mlflow2: LogBatchLimits {
        var limits = LogBatchLimits()
        limits.maxTagValueLength = 5000
        return limits
    }
}

/// One `runs/log-batch` request body's worth of entities.
public struct LogBatch: Sendable, Equatable {
    public var metrics: [Metric] = []
    public var params: [KeyValue] = []
    public var tags: [KeyValue] = []

    public var isEmpty: Bool { metrics.isEmpty && params.isEmpty && tags.isEmpty }
    public var count: Int { metrics.count + params.count + tags.count }
}

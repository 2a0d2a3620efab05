import Foundation

/// Makes keys and values acceptable to MLflow and splits any amount of them into requests
/// within ``LogBatchLimits``, keeping their order.
public struct LogBatchPlanner: Sendable {
    public var limits: LogBatchLimits

    public init(limits: LogBatchLimits = LogBatchLimits()) {
        self.limits = limits
    }

    /// Sanitizes and splits: non-finite metric values are dropped, keys made valid, long
    /// param and tag values truncated, a param given twice kept once with its first value, as MLflow keeps
    /// it (a param cannot change once logged).
    public func plan(metrics: [Metric], params: [KeyValue], tags: [KeyValue]) -> [LogBatch] {
        let cleanMetrics = metrics.compactMap { metric -> Metric? in
            guard metric.value.isFinite else { return nil }
            var m = metric
            m.key = MLflowKey.sanitize(metric.key, maxLength: limits.maxKeyLength)
            return m
        }
        var seenParams: Set<String> = []
        var cleanParams: [KeyValue] = []
        for param in params {
            let key = MLflowKey.sanitize(param.key, maxLength: limits.maxKeyLength)
            guard seenParams.insert(key).inserted else { continue }
            cleanParams.append(KeyValue(key: key, value: MLflowKey.truncate(param.value, to: limits.maxParamValueLength)))
        }
        let cleanTags = tags.map {
            KeyValue(
                key: MLflowKey.sanitize($0.key, maxLength: limits.maxKeyLength),
                value: MLflowKey.truncate($0.value, to: limits.maxTagValueLength))
        }

        // Each request takes as many params and tags as it may, then fills up with metrics,
        // so a training's params ride along with its first metrics.
        var batches: [LogBatch] = []
        var p = 0, t = 0, m = 0
        while p < cleanParams.count || t < cleanTags.count || m < cleanMetrics.count {
            var batch = LogBatch()
            var bytes = Self.overhead
            func fits(_ size: Int) -> Bool {
                batch.isEmpty || (batch.count < limits.maxEntities && bytes + size <= limits.maxRequestBytes)
            }
            while p < cleanParams.count, batch.params.count < limits.maxParams, fits(Self.size(of: cleanParams[p])) {
                bytes += Self.size(of: cleanParams[p])
                batch.params.append(cleanParams[p])
                p += 1
            }
            while t < cleanTags.count, batch.tags.count < limits.maxTags, fits(Self.size(of: cleanTags[t])) {
                bytes += Self.size(of: cleanTags[t])
                batch.tags.append(cleanTags[t])
                t += 1
            }
            while m < cleanMetrics.count, batch.metrics.count < limits.maxMetrics, fits(Self.size(of: cleanMetrics[m])) {
                bytes += Self.size(of: cleanMetrics[m])
                batch.metrics.append(cleanMetrics[m])
                m += 1
            }
            batches.append(batch)
        }
        return batches
    }

    /// `{"run_id":"<32 hex>","metrics":[],"params":[],"tags":[]}` and some slack.
    static let overhead = 128

    static func size(of pair: KeyValue) -> Int {
        jsonLength(pair.key) + jsonLength(pair.value) + 20
    }

    static func size(of metric: Metric) -> Int {
        jsonLength(metric.key) + 80
    }

    /// An upper bound of a string's length once JSON-encoded.
    static func jsonLength(_ text: String) -> Int {
        var length = 2
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22, 0x5C: length += 2
            case 0..<0x20: length += 6
            case 0x20..<0x80: length += 1
            default: length += 12  // worst case: \uXXXX\uXXXX
            }
        }
        return length
    }
}

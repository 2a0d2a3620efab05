import Foundation

/// The state of a run (`RunStatus` in MLflow's protocol).
public enum RunStatus: String, Codable, Sendable, CaseIterable {
    case running = "RUNNING"
    case scheduled = "SCHEDULED"
    case finished = "FINISHED"
    case failed = "FAILED"
    case killed = "KILLED"

    public var isTerminal: Bool { self == .finished || self == .failed || self == .killed }
}

/// A run's metadata.
public struct RunInfo: Decodable, Sendable, Equatable {
    public var runId: String
    public var runName: String
    public var experimentId: String
    public var userId: String
    public var status: RunStatus
    public var startTime: Int64?
    public var endTime: Int64?
    public var artifactURI: String
    public var lifecycleStage: String

    enum CodingKeys: String, CodingKey {
        case runId = "run_id", runUUID = "run_uuid", runName = "run_name", experimentId = "experiment_id"
        case userId = "user_id", status, startTime = "start_time", endTime = "end_time"
        case artifactURI = "artifact_uri", lifecycleStage = "lifecycle_stage"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        runId = try c.string(.runId) ?? c.string(.runUUID) ?? ""
        runName = try c.string(.runName) ?? ""
        experimentId = try c.string(.experimentId) ?? ""
        userId = try c.string(.userId) ?? ""
        status = RunStatus(rawValue: try c.string(.status) ?? "") ?? .running
        startTime = try c.int64(.startTime)
        endTime = try c.int64(.endTime)
        artifactURI = try c.string(.artifactURI) ?? ""
        lifecycleStage = try c.string(.lifecycleStage) ?? "active"
    }
}

/// A run: its metadata and data (latest metric values, params, tags).
public struct Run: Decodable, Sendable, Equatable {
    public var info: RunInfo
    /// The latest value of each metric.
    public var metrics: [Metric]
    public var params: [String: String]
    public var tags: [String: String]

    enum CodingKeys: String, CodingKey { case info, data }
    enum DataKeys: String, CodingKey { case metrics, params, tags }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        info = try c.decode(RunInfo.self, forKey: .info)
        if c.contains(.data) {
            let d = try c.nestedContainer(keyedBy: DataKeys.self, forKey: .data)
            metrics = try d.list(.metrics)
            params = try d.list(.params, of: KeyValue.self).dictionary
            tags = try d.list(.tags, of: KeyValue.self).dictionary
        } else {
            metrics = []
            params = [:]
            tags = [:]
        }
    }

    /// The latest value of a metric, if it was logged.
    public func metric(_ key: String) -> Double? {
        metrics.first { $0.key == key }?.value
    }
}

/// One metric point.
public struct Metric: Codable, Sendable, Equatable {
    public var key: String
    public var value: Double
    /// Milliseconds since the epoch.
    public var timestamp: Int64
    public var step: Int64

    public init(key: String, value: Double, timestamp: Int64, step: Int64 = 0) {
        self.key = key
        self.value = value
        self.timestamp = timestamp
        self.step = step
    }

    enum CodingKeys: String, CodingKey { case key, value, timestamp, step }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        key = try c.string(.key) ?? ""
        value = try c.double(.value) ?? .nan
        timestamp = try c.int64(.timestamp) ?? 0
        step = try c.int64(.step) ?? 0
    }
}

/// Milliseconds since the epoch, as MLflow stamps everything.
public func mlflowTimestamp(_ date: Date = Date()) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1000).rounded())
}

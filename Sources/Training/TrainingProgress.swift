import Foundation

/// What a progress display shows during a training.
public struct TrainingProgress: Sendable, Equatable {
    public enum Phase: Sendable, Equatable {
        /// The run exists and the trainer is starting (imports, dataset scan).
        case starting(runId: String, experimentId: String)
        /// The trainer runs on this device.
        case started(device: String, saveDir: String)
        /// An epoch ended.
        case epoch(TrainingMetrics)
        /// Uploading artifacts and registering the model.
        case finishing(String)
    }

    public var phase: Phase
    public var epoch: Int
    public var epochs: Int
    /// Seconds since the trainer was started.
    public var elapsed: Double
    /// Estimated seconds left, once an epoch has been timed.
    public var eta: Double?
}

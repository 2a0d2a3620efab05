import Foundation
import MLflow
import Registry

/// What a finished training produced.
public struct TrainingResult: Sendable, Equatable {
    public var runId: String
    public var experimentId: String
    public var status: RunStatus
    /// The best checkpoint's validation.
    public var metrics: TrainingMetrics
    /// The registered version with alias `candidate`.
    public var model: ModelInfo?
    public var artifactURI: String
    /// ultralytics' output folder.
    public var saveDir: String
    public var epochsCompleted: Int
    /// SHA-256 of weights/best.pt.
    public var weightsSHA256: String?
}

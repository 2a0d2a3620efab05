import Foundation
import MLflow

/// Everything that turns a trained run into FINISHED with a model version, written to the
/// journal before it is done, so that `guardianflow sync` can do it when the process that
/// trained could not (MLflow unreachable at the end, or a crash while finishing).
public struct FinishPlan: Codable, Sendable, Equatable {
    public var runId: String
    public var experimentId: String
    public var artifactURI: String
    /// The trainer's save dir (weights/, results.csv, args.yaml, plots).
    public var saveDir: String
    public var logFile: String
    public var manifestFile: String
    public var epochsCompleted: Int
    /// The best checkpoint's metrics in guardianflow's names (`mAP50_95`, …).
    public var bestMetrics: [String: Double]
    /// The registered model, its alias, and the version tags besides `weights.sha256`.
    public var modelName: String
    public var alias: String
    public var versionTags: [String: String]

    public init(
        runId: String, experimentId: String, artifactURI: String, saveDir: String, logFile: String, manifestFile: String,
        epochsCompleted: Int, bestMetrics: [String: Double], modelName: String, alias: String, versionTags: [String: String]
    ) {
        self.runId = runId
        self.experimentId = experimentId
        self.artifactURI = artifactURI
        self.saveDir = saveDir
        self.logFile = logFile
        self.manifestFile = manifestFile
        self.epochsCompleted = epochsCompleted
        self.bestMetrics = bestMetrics
        self.modelName = modelName
        self.alias = alias
        self.versionTags = versionTags
    }
}

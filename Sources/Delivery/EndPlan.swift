import Foundation
import MLflow

/// How a run that did not finish ends: FAILED or KILLED, the tags saying why, and the files
/// worth keeping (the log, last.pt). Journaled like ``FinishPlan``.
public struct EndPlan: Codable, Sendable, Equatable {
    public var runId: String
    public var artifactURI: String
    /// `FAILED` or `KILLED`.
    public var status: String
    public var tags: [KeyValue]
    /// Local file → artifact path.
    public var uploads: [String: String]
    public var endTime: Int64

    public init(runId: String, artifactURI: String, status: String, tags: [KeyValue], uploads: [String: String], endTime: Int64) {
        self.runId = runId
        self.artifactURI = artifactURI
        self.status = status
        self.tags = tags
        self.uploads = uploads
        self.endTime = endTime
    }
}

import Config
import Foundation
import GuardianFlowCore
import MLflow
import S3

/// Where a run's artifacts live, chosen by the scheme of its `artifact_uri` as MLflow's own
/// client does. Paths are relative to the run's artifact root (`weights/best.pt`).
public protocol ArtifactStore: Sendable {
    /// Copies a local file to `path`, streamed from disk.
    ///
    /// - Returns: the file's SHA-256 when the store computed it on the way (S3 does), so callers
    ///   need not read the file again for it.
    @discardableResult
    func upload(file: String, to path: String) async throws -> String?
    /// Copies `path` to a local file, replacing it only once it is complete.
    func download(_ path: String, to localFile: String) async throws
    /// Whether `path` exists.
    func exists(_ path: String) async throws -> Bool
    /// Checks the store can be written before anything depends on it.
    func preflight() async throws
}

extension ArtifactStore {
    public func preflight() async throws {}
}

import Foundation
import MLflow
import PathSupport

/// Artifacts through the tracking server's proxy (`mlflow-artifacts:/…`): clients need no
/// storage credentials.
public struct ProxyArtifactStore: ArtifactStore {
    public let client: MLflowClient
    /// The run's artifact root relative to the proxy, e.g. `1/<run id>/artifacts`.
    public let root: String

    public init(client: MLflowClient, root: String) {
        self.client = client
        self.root = root
    }

    func full(_ path: String) -> String { root.isEmpty ? path : root + "/" + path }

    @discardableResult
    public func upload(file: String, to path: String) async throws -> String? {
        try await client.uploadArtifact(localFile: file, to: full(path))
        return nil
    }

    public func download(_ path: String, to localFile: String) async throws {
        try await client.downloadArtifact(full(path), to: localFile)
    }

    public func exists(_ path: String) async throws -> Bool {
        let parent = FilePaths.parent(path)
        let name = (path as NSString).lastPathComponent
        let files = try await client.listArtifacts(proxyPath: parent.isEmpty ? root : full(parent))
        return files.contains { ($0.path as NSString).lastPathComponent == name }
    }
}

import Foundation
import Config
import GuardianFlowCore
import MLflow
import S3

/// Picks the store for an artifact URI.
public enum ArtifactStores {
    /// The store for a run's `artifact_uri`.
    ///
    /// - Throws: ``GuardianFlowError/invalidInput(_:)`` for a scheme guardianflow cannot write.
    public static func forArtifactURI(_ uri: String, client: MLflowClient, s3: S3Configuration? = nil) throws -> any ArtifactStore {
        if let root = MLflowClient.proxyPath(ofArtifactURI: uri) {
            return ProxyArtifactStore(client: client, root: root)
        }
        if uri.hasPrefix("file:") || uri.hasPrefix("/") {
            return LocalArtifactStore(root: LocalArtifactStore.path(ofFileURI: uri))
        }
        if let (bucket, prefix) = S3ArtifactStore.parse(uri) {
            guard let s3 else {
                throw GuardianFlowError.invalidInput(
                    "The run's artifacts go straight to \(uri), and no S3 store is configured here. Set "
                        + "MLFLOW_S3_ENDPOINT_URL (or S3_ENDPOINT_URL), AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.")
            }
            return S3ArtifactStore(client: S3Client(configuration: s3), bucket: bucket, prefix: prefix)
        }
        let scheme = uri.split(separator: ":").first.map(String.init) ?? uri
        throw GuardianFlowError.invalidInput(
            "The run's artifact store '\(Redaction.redactURIs(uri))' uses the \(scheme): scheme, which this build "
                + "of guardianflow cannot write. Run the MLflow server with --serve-artifacts (artifacts go through "
                + "the server, mlflow-artifacts:/), or use s3:// or a local path.")
    }
}

import Foundation
import S3

/// Artifacts straight in S3 (`s3://bucket/prefix`), written by this process with its own
/// credentials, as MLflow's Python client does.
public struct S3ArtifactStore: ArtifactStore {
    public let client: S3Client
    public let bucket: String
    /// The key prefix of the run's artifact root, without a trailing slash.
    public let prefix: String

    public init(client: S3Client, bucket: String, prefix: String) {
        self.client = client
        self.bucket = bucket
        var trimmed = prefix
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        while trimmed.hasPrefix("/") { trimmed.removeFirst() }
        self.prefix = trimmed
    }

    /// Splits `s3://bucket/some/prefix` into bucket and prefix.
    public static func parse(_ uri: String) -> (bucket: String, prefix: String)? {
        guard uri.hasPrefix("s3://") else { return nil }
        let rest = uri.dropFirst("s3://".count)
        let bucket = rest.prefix { $0 != "/" }
        guard !bucket.isEmpty else { return nil }
        return (String(bucket), String(rest.dropFirst(bucket.count)))
    }

    func key(_ path: String) -> String { prefix.isEmpty ? path : prefix + "/" + path }

    @discardableResult
    public func upload(file: String, to path: String) async throws -> String? {
        try await client.upload(file: file, bucket: bucket, key: key(path)).sha256
    }

    public func download(_ path: String, to localFile: String) async throws {
        try await client.download(bucket: bucket, key: key(path), to: localFile)
    }

    public func exists(_ path: String) async throws -> Bool {
        try await client.headObject(bucket: bucket, key: key(path)) != nil
    }

    /// One signed request to the bucket: wrong credentials or a missing bucket fail here,
    /// before a run exists.
    public func preflight() async throws {
        try await client.headBucket(bucket)
    }
}

import Foundation
import HTTPSupport

/// Where an S3 API is and how to use it.
public struct S3Configuration: Sendable, Equatable {
    /// `http(s)://host:port`, path-style addressing (`/<bucket>/<key>`).
    public var endpoint: String
    public var region: String
    public var accessKeyId: String
    public var secretAccessKey: String
    /// Files at least this large go as a multipart upload.
    public var multipartThreshold: Int64 = 16 * 1024 * 1024
    /// The size of each part (S3 needs ≥ 5 MiB but for the last).
    public var partSize: Int64 = 8 * 1024 * 1024
    /// How many parts (or ranges of a download) move at once.
    public var concurrency: Int = 8
    /// Per request.
    public var retry: RetryPolicy = RetryPolicy(maxAttempts: 5, budget: .seconds(60))
    public var requestTimeout: Duration = .seconds(300)
    public var insecureTLS = false

    public init(endpoint: String, region: String = "us-east-1", accessKeyId: String, secretAccessKey: String) {
        var trimmed = endpoint.trimmingCharacters(in: .whitespaces)
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.endpoint = trimmed
        self.region = region
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
    }

    /// The `Host` header for the endpoint.
    var host: String {
        guard let components = URLComponents(string: endpoint), let host = components.host else { return endpoint }
        if let port = components.port { return "\(host):\(port)" }
        return host
    }
}

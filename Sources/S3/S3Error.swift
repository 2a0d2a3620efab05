import Foundation

/// Everything that can go wrong talking to an S3 API, with what to do about it. Never carries
/// the secret key.
public enum S3Error: Error, Sendable, CustomStringConvertible, Equatable {
    /// The server answered with an S3 error document.
    case service(operation: String, status: Int, code: String, message: String, endpoint: String, bucket: String, key: String?)
    /// The credentials were refused (InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied, 403).
    case credentials(operation: String, code: String, endpoint: String, bucket: String, accessKeyId: String)
    /// The request's date is too far from the server's clock.
    case clockSkew(endpoint: String, skewSeconds: Double)
    /// No answer after every retry.
    case unreachable(endpoint: String, detail: String)
    /// What was stored is not what was sent, or an answer is not S3's.
    case integrity(String)
    /// A local file could not be read or written.
    case file(path: String, detail: String)

    public var description: String {
        switch self {
        case .service(let operation, let status, let code, let message, let endpoint, let bucket, let key):
            let object = key.map { "s3://\(bucket)/\($0)" } ?? "bucket \(bucket)"
            return "S3 \(operation) of \(object) at \(endpoint) failed (HTTP \(status) \(code)): \(message)"
        case .credentials(let operation, let code, let endpoint, let bucket, let key):
            return
                "S3 at \(endpoint) refused the credentials for bucket \(bucket) (\(operation): \(code)). Check "
                + "AWS_ACCESS_KEY_ID (now \(String(key.prefix(4)))****) and AWS_SECRET_ACCESS_KEY, and that this key may use the bucket."
        case .clockSkew(let endpoint, let skew):
            return
                "S3 at \(endpoint) refused the request: this machine's clock is \(String(format: "%.0f", abs(skew))) s "
                + "\(skew > 0 ? "ahead of" : "behind") the server's (S3 allows 15 minutes). Fix the clock (e.g. enable NTP: timedatectl set-ntp true)."
        case .unreachable(let endpoint, let detail):
            return "The S3 endpoint \(endpoint) is not answering (\(detail)). Check MLFLOW_S3_ENDPOINT_URL and that the store runs."
        case .integrity(let message):
            return message
        case .file(let path, let detail):
            return "Cannot use the file \(path): \(detail)."
        }
    }

    /// Whether the credentials were the problem.
    public var isCredentials: Bool {
        if case .credentials = self { return true }
        return false
    }
}

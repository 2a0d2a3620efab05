import Foundation

/// Everything that can go wrong talking to an MLflow server, with what to do about it.
public enum MLflowError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The server answered with an error: its HTTP status, MLflow's `error_code` and message.
    case api(endpoint: String, status: Int, errorCode: String?, message: String)
    /// No answer: connection refused, reset or timed out, after every retry.
    case unreachable(uri: String, detail: String, attempts: Int)
    /// 401 or 403: the server refused the credentials.
    case authenticationRefused(uri: String, status: Int, message: String)
    /// TLS failed; retrying will not help.
    case tls(uri: String, detail: String)
    /// The server answered something that is not the JSON the API promises.
    case invalidResponse(endpoint: String, status: Int, detail: String)
    /// A model version ended in FAILED_REGISTRATION or did not become READY in time.
    case registration(name: String, version: String, detail: String)
    /// A local file could not be read or written.
    case file(path: String, detail: String)
    /// The caller passed something the API cannot take.
    case invalidArgument(String)

    /// MLflow's `error_code`, such as `RESOURCE_DOES_NOT_EXIST`, when the server sent one.
    public var errorCode: String? {
        if case .api(_, _, let code, _) = self { return code }
        return nil
    }

    /// The HTTP status, when there was a response.
    public var status: Int? {
        switch self {
        case .api(_, let status, _, _), .authenticationRefused(_, let status, _),
            .invalidResponse(_, let status, _):
            return status
        default:
            return nil
        }
    }

    public var isNotFound: Bool { errorCode == "RESOURCE_DOES_NOT_EXIST" || (errorCode == nil && status == 404) }
    public var isAlreadyExists: Bool { errorCode == "RESOURCE_ALREADY_EXISTS" }
    var isAliasNotFound: Bool {
        guard case .api(_, _, "INVALID_PARAMETER_VALUE", let message) = self else { return false }
        return message.contains("alias") && message.contains("not found")
    }

    public var description: String {
        switch self {
        case .api(let endpoint, let status, let code, let message):
            let what = code.map { "\($0): " } ?? ""
            return "MLflow refused \(endpoint) (HTTP \(status)): \(what)\(message)"
        case .unreachable(let uri, let detail, let attempts):
            let tries = attempts == 1 ? "1 attempt" : "\(attempts) attempts"
            return
                "The MLflow tracking server at \(uri) is not answering (\(detail); \(tries)). "
                + "Check that it is running and that MLFLOW_TRACKING_URI is right, "
                + "or unset it to use the local server (guardianflow server start)."
        case .authenticationRefused(let uri, let status, let message):
            let detail = message.isEmpty ? "" : " (\(message))"
            return
                "The MLflow tracking server at \(uri) refused the credentials (HTTP \(status))\(detail). "
                + "Set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN, "
                + "to an account that may use this server."
        case .tls(let uri, let detail):
            return
                "TLS with \(uri) failed: \(detail). Fix the server's certificate, or set "
                + "MLFLOW_TRACKING_INSECURE_TLS=true to skip verification on a trusted network."
        case .invalidResponse(let endpoint, let status, let detail):
            return
                "The server's answer to \(endpoint) (HTTP \(status)) is not MLflow's API: \(detail). "
                + "Check that the tracking URI points at an MLflow server and not a proxy or another service."
        case .registration(let name, let version, let detail):
            return "Model version \(name)/\(version) did not register: \(detail)."
        case .file(let path, let detail):
            return "Cannot use the file \(path): \(detail)."
        case .invalidArgument(let message):
            return message
        }
    }
}

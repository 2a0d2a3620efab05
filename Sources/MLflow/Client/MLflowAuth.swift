import Foundation

/// How requests prove who sends them, as MLflow's own client decides it.
public enum MLflowAuth: Sendable, Equatable {
    case none
    /// `Authorization: Basic`, from MLFLOW_TRACKING_USERNAME/PASSWORD or a `user:pass@` in the URI.
    case basic(username: String, password: String)
    /// `Authorization: Bearer`, from MLFLOW_TRACKING_TOKEN.
    case bearer(token: String)

    /// Picks like `mlflow.utils.rest_utils`: username and password win over a token; credentials
    /// inside the URI come last.
    public static func resolve(
        username: String?, password: String?, token: String?, uriCredentials: (String, String)?
    ) -> MLflowAuth {
        if let username, let password, !username.isEmpty {
            return .basic(username: username, password: password)
        }
        if let token, !token.isEmpty {
            return .bearer(token: token)
        }
        if let (user, pass) = uriCredentials {
            return .basic(username: user, password: pass)
        }
        return .none
    }

    /// The `Authorization` header value, if any.
    public var headerValue: String? {
        switch self {
        case .none:
            return nil
        case .basic(let username, let password):
            return "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
        case .bearer(let token):
            return "Bearer \(token)"
        }
    }
}

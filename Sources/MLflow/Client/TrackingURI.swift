import Foundation

/// A tracking server address: the base URL to send requests to, with any `user:pass@` taken out.
public struct TrackingURI: Sendable, Equatable, CustomStringConvertible {
    /// Scheme, host, port and path prefix, without credentials or a trailing slash.
    public let baseURL: String
    /// The `user:pass@` that was inside the URI, if any.
    public let credentials: Credentials?

    public struct Credentials: Sendable, Equatable {
        public var username: String
        public var password: String
    }

    /// Parses an `http(s)://` tracking URI.
    ///
    /// - Throws: ``MLflowError/invalidArgument(_:)`` naming the URI (redacted) when it is not one.
    public init(_ text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard var components = URLComponents(string: trimmed),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = components.host, !host.isEmpty
        else {
            throw MLflowError.invalidArgument(
                "The tracking URI '\(TrackingURI.redact(trimmed))' is not an http:// or https:// address. "
                    + "Set MLFLOW_TRACKING_URI to the server, e.g. http://mlflow.internal:5000.")
        }
        if let user = components.user {
            credentials = Credentials(
                username: user.removingPercentEncoding ?? user,
                password: (components.password ?? "").removingPercentEncoding ?? "")
        } else {
            credentials = nil
        }
        components.user = nil
        components.password = nil
        components.query = nil
        components.fragment = nil
        var url = components.string ?? trimmed
        while url.hasSuffix("/") { url.removeLast() }
        baseURL = url
    }

    public var description: String { baseURL }

    /// Masks the password of any `user:pass@` inside URLs in `text` (`http://ann:****@host`).
    public static func redact(_ text: String) -> String {
        guard text.contains("@") else { return text }
        var result = ""
        var rest = Substring(text)
        while let schemeRange = rest.range(of: "://") {
            result += rest[..<schemeRange.upperBound]
            rest = rest[schemeRange.upperBound...]
            let authorityEnd = rest.firstIndex { $0 == "/" || $0 == " " || $0 == "?" || $0 == "#" || $0 == "\n" } ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            if let at = authority.lastIndex(of: "@") {
                let userinfo = authority[..<at]
                if let colon = userinfo.firstIndex(of: ":") {
                    result += userinfo[..<colon] + ":****"
                } else {
                    result += "****"
                }
                result += authority[at...]
            } else {
                result += authority
            }
            rest = rest[authorityEnd...]
        }
        return result + rest
    }
}

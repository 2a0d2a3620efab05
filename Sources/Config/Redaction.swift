import Foundation
import MLflow

/// Keeps secrets out of everything guardianflow prints, logs or sends to MLflow.
public enum Redaction {
    /// Masks the password of any `user:pass@` in URLs inside `text`.
    public static func redactURIs(_ text: String) -> String {
        TrackingURI.redact(text)
    }

    /// Shows only the first four characters of an access key id.
    public static func maskAccessKey(_ value: String) -> String {
        value.count <= 4 ? "****" : String(value.prefix(4)) + "****"
    }

    /// Replaces every occurrence of each secret with `****`, and redacts URI credentials.
    public static func scrub(_ text: String, secrets: [String]) -> String {
        var result = redactURIs(text)
        for secret in secrets where secret.count >= 4 {
            result = result.replacingOccurrences(of: secret, with: "****")
        }
        return result
    }
}

import Foundation

/// One effective setting.
public struct Setting: Sendable, Equatable {
    public var key: SettingKey
    public var value: String?
    public var source: SettingSource

    /// The value as it may be shown: secrets masked, credentials in URIs redacted.
    public var displayValue: String {
        guard let value else { return "" }
        if key.isSecret { return value.isEmpty ? "" : "****" }
        if key == .awsAccessKeyID { return Redaction.maskAccessKey(value) }
        return Redaction.redactURIs(value)
    }
}

import Foundation

/// A registered model version, as guardianflow reports it.
public struct ModelInfo: Sendable, Equatable, Codable {
    public var name: String
    public var version: String
    /// The alias set on it by the operation that produced this, if any.
    public var alias: String?
    public var source: String
    public var runId: String

    public init(name: String, version: String, alias: String?, source: String, runId: String) {
        self.name = name
        self.version = version
        self.alias = alias
        self.source = source
        self.runId = runId
    }

    /// `models:/<name>/<version>`.
    public var uri: String { "models:/\(name)/\(version)" }
}

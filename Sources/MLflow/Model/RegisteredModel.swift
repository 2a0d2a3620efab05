import Foundation

/// A registered model in the model registry.
public struct RegisteredModel: Decodable, Sendable, Equatable {
    public var name: String
    public var creationTimestamp: Int64?
    public var lastUpdatedTimestamp: Int64?
    public var description: String
    public var latestVersions: [ModelVersion]
    public var tags: [String: String]
    /// Alias name → version.
    public var aliases: [String: String]

    enum CodingKeys: String, CodingKey {
        case name, creationTimestamp = "creation_timestamp", lastUpdatedTimestamp = "last_updated_timestamp"
        case description, latestVersions = "latest_versions", tags, aliases
    }

    struct Alias: Decodable {
        var alias: String
        var version: String
        enum CodingKeys: String, CodingKey { case alias, version }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            alias = try c.string(.alias) ?? ""
            version = try c.string(.version) ?? ""
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.string(.name) ?? ""
        creationTimestamp = try c.int64(.creationTimestamp)
        lastUpdatedTimestamp = try c.int64(.lastUpdatedTimestamp)
        description = try c.string(.description) ?? ""
        latestVersions = try c.list(.latestVersions)
        tags = try c.list(.tags, of: KeyValue.self).dictionary
        aliases = Dictionary(
            try c.list(.aliases, of: Alias.self).map { ($0.alias, $0.version) }, uniquingKeysWith: { _, b in b })
    }
}

/// One version of a registered model.
public struct ModelVersion: Decodable, Sendable, Equatable {
    public var name: String
    public var version: String
    public var creationTimestamp: Int64?
    public var lastUpdatedTimestamp: Int64?
    public var description: String
    public var source: String
    public var runId: String
    /// `PENDING_REGISTRATION`, `READY` or `FAILED_REGISTRATION`.
    public var status: String
    public var statusMessage: String
    public var tags: [String: String]
    public var aliases: [String]
    public var runLink: String

    enum CodingKeys: String, CodingKey {
        case name, version, creationTimestamp = "creation_timestamp"
        case lastUpdatedTimestamp = "last_updated_timestamp", description, source, runId = "run_id"
        case status, statusMessage = "status_message", tags, aliases, runLink = "run_link"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.string(.name) ?? ""
        version = try c.string(.version) ?? ""
        creationTimestamp = try c.int64(.creationTimestamp)
        lastUpdatedTimestamp = try c.int64(.lastUpdatedTimestamp)
        description = try c.string(.description) ?? ""
        source = try c.string(.source) ?? ""
        runId = try c.string(.runId) ?? ""
        status = try c.string(.status) ?? ""
        statusMessage = try c.string(.statusMessage) ?? ""
        tags = try c.list(.tags, of: KeyValue.self).dictionary
        aliases = try c.list(.aliases)
        runLink = try c.string(.runLink) ?? ""
    }

    public var isReady: Bool { status == "READY" }
}

/// A file or folder in an artifact listing.
public struct FileInfo: Decodable, Sendable, Equatable {
    public var path: String
    public var isDir: Bool
    public var fileSize: Int64?

    enum CodingKeys: String, CodingKey { case path, isDir = "is_dir", fileSize = "file_size" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        path = try c.string(.path) ?? ""
        isDir = try c.decodeIfPresent(Bool.self, forKey: .isDir) ?? false
        fileSize = try c.int64(.fileSize)
    }
}

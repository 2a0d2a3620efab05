import Foundation
import GuardianFlowCore

/// `NAME`, `NAME@ALIAS` or `NAME/VERSION` (and the same behind `models:/`).
public struct ModelReference: Sendable, Equatable, CustomStringConvertible {
    public enum Selector: Sendable, Equatable {
        case alias(String)
        case version(String)
    }

    public var name: String
    public var selector: Selector

    public init(name: String, selector: Selector) {
        self.name = name
        self.selector = selector
    }

    /// Parses a reference; a bare name means `@champion`.
    public init(parsing text: String) throws {
        var rest = Substring(text.hasPrefix("models:/") ? String(text.dropFirst("models:/".count)) : text)
        if let at = rest.lastIndex(of: "@") {
            name = String(rest[..<at])
            selector = .alias(String(rest[rest.index(after: at)...]))
        } else if let slash = rest.lastIndex(of: "/"), Int(rest[rest.index(after: slash)...]) != nil {
            name = String(rest[..<slash])
            selector = .version(String(rest[rest.index(after: slash)...]))
        } else {
            while rest.hasSuffix("/") { rest = rest.dropLast() }
            name = String(rest)
            selector = .alias(ModelRegistry.champion)
        }
        guard !name.isEmpty, selector != .alias(""), selector != .version("") else {
            throw GuardianFlowError.usage("'\(text)' is not a model reference; use NAME, NAME@ALIAS or NAME/VERSION.")
        }
    }

    public var description: String {
        switch selector {
        case .alias(let alias): "\(name)@\(alias)"
        case .version(let version): "\(name)/\(version)"
        }
    }
}

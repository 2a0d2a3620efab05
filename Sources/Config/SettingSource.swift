import Foundation

/// Where a setting's value came from.
public enum SettingSource: Sendable, Equatable, CustomStringConvertible {
    case flag(String)
    case environment(String)
    case file(String)
    case defaultValue
    case unset

    public var description: String {
        switch self {
        case .flag(let name): "flag \(name)"
        case .environment(let name): "env \(name)"
        case .file(let path): "file \(path)"
        case .defaultValue: "default"
        case .unset: "not set"
        }
    }
}

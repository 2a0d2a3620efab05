import Foundation
import GuardianFlowCore
import Yams

/// A YAML file a user gave guardianflow (a config file, a dataset YAML), read with errors that
/// name it and say what it should hold.
public struct YAMLFile: Sendable {
    /// What the file is, as an error message starts: "The config file", "The data YAML".
    public var role: String
    /// What a valid one looks like, added to a parse error.
    public var example: String

    public init(role: String, example: String) {
        self.role = role
        self.example = example
    }

    /// The file's text and its parsed document (nil for an empty file).
    ///
    /// - Throws: ``GuardianFlowError/invalidInput(_:)`` (exit 65) when it cannot be read or is not YAML.
    public func read(_ path: String) throws -> (text: String, document: Any?) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw GuardianFlowError.invalidInput("\(role) \(path) cannot be read: \(error.localizedDescription).")
        }
        do {
            return (text, try Yams.load(yaml: text))
        } catch {
            throw GuardianFlowError.invalidInput("\(role) \(path) is not valid YAML (\(error)). \(example)")
        }
    }
}

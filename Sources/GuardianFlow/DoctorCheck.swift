import Foundation

/// One line of `guardianflow doctor`.
public struct DoctorCheck: Sendable, Equatable, Encodable {
    public enum Outcome: String, Sendable, Encodable {
        case ok, warning, failed, skipped
    }

    public var name: String
    public var outcome: Outcome
    public var detail: String
    /// What to do when it is not ok.
    public var fix: String?
    /// A failed required check makes `doctor` exit non-zero.
    public var required: Bool
    /// The exit code a failure of this check maps to.
    public var exitCode: Int32

    public init(name: String, outcome: Outcome, detail: String, fix: String? = nil, required: Bool = true, exitCode: Int32 = 69) {
        self.name = name
        self.outcome = outcome
        self.detail = detail
        self.fix = fix
        self.required = required
        self.exitCode = exitCode
    }
}

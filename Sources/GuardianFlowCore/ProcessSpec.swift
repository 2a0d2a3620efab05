import Foundation

/// How to start a child process.
public struct ProcessSpec: Sendable {
    /// Where a child's output goes.
    public enum Output: Sendable {
        case inherit
        case null
        /// A file, appended to or truncated.
        case file(String, append: Bool)
        /// A pipe the parent reads (``ChildProcess/stdout`` / ``ChildProcess/stderr``).
        case pipe
    }

    /// How the child relates to the parent's process group.
    public enum Grouping: Sendable {
        /// Same group as the parent: a terminal's Ctrl-C reaches it too.
        case inherit
        /// Its own process group, so the parent can signal it and all its children at once.
        case newGroup
        /// Its own session: it outlives the parent's terminal (daemons such as the local server).
        case newSession
    }

    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]
    public var workingDirectory: String?
    public var stdout: Output
    public var stderr: Output
    public var grouping: Grouping

    public init(
        executable: String, arguments: [String] = [], environment: [String: String] = ProcessInfo.processInfo.environment,
        workingDirectory: String? = nil, stdout: Output = .inherit, stderr: Output = .inherit,
        grouping: Grouping = .newGroup
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.stdout = stdout
        self.stderr = stderr
        self.grouping = grouping
    }
}

import Foundation
import GuardianFlow
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `guardianflow …` as a child process of its own group, its stderr lines collected as they come
/// and its stdout kept for the end: for tests that act while it runs (stop its server, signal it).
public struct CLIChild: Sendable {
    public actor Lines {
        var lines: [String] = []
        func add(_ line: String) { lines.append(line) }
        public func contains(_ text: String) -> Bool { lines.contains { $0.contains(text) } }
        public var all: String { lines.joined(separator: "\n") }
    }

    public let process: ChildProcess
    public let lines = Lines()
    let reader: Task<Void, Never>
    let output: Task<String, Never>

    public init(_ arguments: [String], environment: [String: String]) throws {
        let process = try ChildProcess.spawn(
            ProcessSpec(
                executable: TestEnvironment.executable, arguments: arguments, environment: environment, stdout: .pipe, stderr: .pipe,
                grouping: .newGroup))
        self.process = process
        let lines = self.lines
        reader = Task { for await line in ChildProcess.lines(of: process.stderr!) { await lines.add(line) } }
        output = Task {
            var out = ""
            for await line in ChildProcess.lines(of: process.stdout!) { out += line + "\n" }
            return out
        }
    }

    /// Returns once `text` is on stderr; fails the test if the process ended or `timeout` passed first.
    public func waitFor(_ text: String, timeout: Duration = .seconds(240)) async throws {
        let deadline = ContinuousClock.now + timeout
        while await !lines.contains(text), ContinuousClock.now < deadline {
            if await process.waitForExit(timeout: .milliseconds(50)) != nil { break }
        }
        let seen = await lines.contains(text)
        let soFar = await lines.all
        try #require(seen, "waiting for '\(text)' on stderr: \(soFar)")
    }

    /// How it ended, with all it wrote on stdout and stderr.
    public func finish() async -> (exit: ProcessExit, stdout: String, stderr: String) {
        let exit = await process.waitForExit()
        _ = await reader.value
        return (exit, await output.value, await lines.all)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow

/// Where the executable writes: results on stdout, everything else on stderr, secrets scrubbed.
///
/// stderr may hold one live line (the training's progress, redrawn in place on a terminal):
/// any other line written to stderr ends it first, so the two never mix.
enum Console {
    /// The secret values of the command's settings, scrubbed from everything written.
    static var secrets: [String] {
        get { state.withLock { $0.secrets } }
        set { state.withLock { $0.secrets = newValue } }
    }

    static var stdoutIsTerminal: Bool { isatty(1) == 1 }
    static var stderrIsTerminal: Bool { isatty(2) == 1 }

    static func out(_ text: String) {
        let scrubbed = state.withLock { Redaction.scrub(text, secrets: $0.secrets) }
        FileHandle.standardOutput.write(Data((scrubbed + "\n").utf8))
    }

    static func err(_ text: String) {
        state.withLock { state in
            state.endLiveLine()
            FileHandle.standardError.write(Data((Redaction.scrub(text, secrets: state.secrets) + "\n").utf8))
        }
    }

    /// Redraws the live line on stderr (a terminal only; elsewhere use ``err(_:)``).
    static func live(_ text: String) {
        state.withLock { state in
            FileHandle.standardError.write(Data("\r\u{1B}[K\(Redaction.scrub(text, secrets: state.secrets))".utf8))
            state.liveLineOpen = true
        }
    }

    /// Ends the live line, if one is showing, so that what follows starts on a line of its own.
    static func endLiveLine() {
        state.withLock { $0.endLiveLine() }
    }

    /// Prints a value as JSON on stdout.
    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let text = String(decoding: try encoder.encode(value), as: UTF8.self)
        // Foundation pretty-prints an empty array as "[\n\n]".
        out(text.filter { !$0.isWhitespace } == "[]" ? "[]" : text)
    }

    /// A line for a person: coloured only on a terminal.
    static func styled(_ text: String, _ code: String) -> String {
        stdoutIsTerminal && ProcessInfo.processInfo.environment["NO_COLOR"] == nil ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    private struct State {
        var secrets: [String] = []
        var liveLineOpen = false

        mutating func endLiveLine() {
            guard liveLineOpen else { return }
            FileHandle.standardError.write(Data("\n".utf8))
            liveLineOpen = false
        }
    }

    private static let state = Locked(State())
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow

/// Where the executable writes: results on stdout, everything else on stderr, secrets scrubbed.
enum Console {
    nonisolated(unsafe) static var secrets: [String] = []

    static var stdoutIsTerminal: Bool { isatty(1) == 1 }
    static var stderrIsTerminal: Bool { isatty(2) == 1 }

    static func out(_ text: String) {
        FileHandle.standardOutput.write(Data((Redaction.scrub(text, secrets: secrets) + "\n").utf8))
    }

    static func err(_ text: String) {
        FileHandle.standardError.write(Data((Redaction.scrub(text, secrets: secrets) + "\n").utf8))
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
}

import ArgumentParser
import Foundation

/// `--json`, for commands with machine-readable output.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON on stdout (and nothing else there).")
    var json = false

    /// Prints `value` as JSON with `--json`; otherwise lets `human` print it for a person.
    func print<T: Encodable>(_ value: T, human: () async throws -> Void) async throws {
        if json {
            try Console.json(value)
        } else {
            try await human()
        }
    }
}

import ArgumentParser
import Foundation
import GuardianFlow

struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract:
            "Check the config, tracking server, artifact store, S3, the Python venv, NVML and leftover journals.",
        discussion: """
            One line per check, each with a fix when it is not ok. Exits non-zero when a required check \
            fails, with that check's code (69 unreachable, 77 credentials refused, 65 a bad config or a \
            missing venv; the check's line says which). \
            It does not start the local server.
            """
    )
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        var failed: DoctorCheck?
        try await global.run { settings in
            let checks = await Doctor(settings: settings).run()
            failed = checks.first { $0.required && $0.outcome == .failed }
            try await output.print(checks) { printChecks(checks) }
        }
        if let failed { throw ExitCode(failed.exitCode) }
    }

    func printChecks(_ checks: [DoctorCheck]) {
        for check in checks {
            let mark: String
            switch check.outcome {
            case .ok: mark = Console.styled("✓", "32")
            case .warning: mark = Console.styled("!", "33")
            case .failed: mark = Console.styled("✗", "31")
            case .skipped: mark = Console.styled("-", "2")
            }
            let name = check.name.padding(toLength: 16, withPad: " ", startingAt: 0)
            Console.out("\(mark) \(name) \(check.detail)")
            if let fix = check.fix, check.outcome != .ok, check.outcome != .skipped {
                Console.out("  \(String(repeating: " ", count: 16)) fix: \(fix)")
            }
        }
    }
}

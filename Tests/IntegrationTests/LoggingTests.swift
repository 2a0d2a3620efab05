import Foundation
import GuardianFlow
import Testing
import TestSupport

/// How much the CLI says on stderr: `--verbose`, `--quiet`, `GUARDIANFLOW_LOG_LEVEL`; stdout keeps only the result.
@Suite("Log levels on the command line", .mlflowServer)
struct LoggingTests {
    /// Every command a user runs, as its words on the command line.
    static let commands: [[String]] = [
        ["train"], ["promote"], ["rollback"], ["history"], ["models", "show"], ["pull"], ["list", "experiments"], ["list", "models"],
        ["list", "versions"], ["list", "runs"], ["config", "show"], ["doctor"], ["server", "start"], ["server", "stop"],
        ["server", "status"], ["system-metrics"], ["sync"], ["runs", "reap"],
    ]

    func env(_ server: MLflowTestServer, _ extra: [String: String] = [:]) -> [String: String] {
        TestEnvironment.cleanEnvironment(
            ["MLFLOW_TRACKING_URI": server.uri, "GUARDIANFLOW_WORK_DIR": TestEnvironment.temporaryDirectory("log-work")].merging(extra) { _, b in b })
    }

    @Test("every command takes --verbose and --quiet, and says what they do", arguments: commands)
    func everyCommandTakesThem(_ command: [String]) async throws {
        let help = try await CLI.run(command + ["--help"], environment: TestEnvironment.cleanEnvironment([:]))
        #expect(help.exitCode == 0, "\(help.stderr)")
        #expect(help.stdout.contains("-v, --verbose"), "\(command): \(help.stdout)")
        #expect(help.stdout.contains("-q, --quiet"), "\(command): \(help.stdout)")
    }

    @Test("--verbose adds debug lines on stderr while stdout stays the JSON alone; --quiet leaves stderr empty")
    func verboseAndQuiet() async throws {
        let server = try currentServer()
        let verbose = try await CLI.run(["list", "experiments", "--json", "--verbose"], environment: env(server))
        #expect(verbose.exitCode == 0, "\(verbose.stderr)")
        #expect(try JSONSerialization.jsonObject(with: Data(verbose.stdout.utf8)) is [[String: Any]], "stdout is the JSON alone: \(verbose.stdout)")
        #expect(verbose.stderr.contains("debug: Tracking server: \(server.uri)"), "\(verbose.stderr)")

        let byVariable = try await CLI.run(["list", "experiments", "--json"], environment: env(server, ["GUARDIANFLOW_LOG_LEVEL": "debug"]))
        #expect(byVariable.stderr.contains("debug: Tracking server"), "GUARDIANFLOW_LOG_LEVEL=debug is --verbose: \(byVariable.stderr)")

        let plain = try await CLI.run(["list", "experiments", "--json"], environment: env(server))
        #expect(!plain.stderr.contains("debug:"), "debug lines only when asked: \(plain.stderr)")

        // A notice (the local server being started, here finding one already answering on its port) is
        // printed by default and not with --quiet; the result on stdout is the same.
        let local = env(server, ["MLFLOW_TRACKING_URI": "", "GUARDIANFLOW_SERVER_PORT": String(server.port)])
            .filter { $0.key != "MLFLOW_TRACKING_URI" }
        let noisy = try await CLI.run(["server", "start"], environment: local)
        #expect(noisy.exitCode == 0, "\(noisy.stderr)")
        #expect(noisy.stderr.contains("Starting the local MLflow server"), "\(noisy.stderr)")
        let quiet = try await CLI.run(["server", "start", "--quiet"], environment: local)
        #expect(quiet.exitCode == 0, "\(quiet.stderr)")
        #expect(quiet.stderr.isEmpty, "--quiet prints nothing but errors: \(quiet.stderr)")
        #expect(quiet.stdout == noisy.stdout)

        // Errors are still printed with --quiet.
        let missing = try await CLI.run(["list", "runs", "no-such-experiment", "-q"], environment: env(server))
        #expect(missing.exitCode == 6)
        #expect(missing.stderr.hasPrefix("error: There is no experiment 'no-such-experiment'"), "\(missing.stderr)")
    }

    @Test("--verbose with --quiet is a usage error (64); GUARDIANFLOW_LOG_LEVEL that is not a level is refused (65), naming the levels")
    func badLevels() async throws {
        let both = try await CLI.run(["config", "show", "--verbose", "--quiet"], environment: TestEnvironment.cleanEnvironment([:]))
        #expect(both.exitCode == 64)
        #expect(both.stderr.contains("--verbose and --quiet contradict each other"), "\(both.stderr)")

        let loud = try await CLI.run(["config", "show"], environment: TestEnvironment.cleanEnvironment(["GUARDIANFLOW_LOG_LEVEL": "loud"]))
        #expect(loud.exitCode == 65)
        #expect(loud.stderr.contains("log_level (from env GUARDIANFLOW_LOG_LEVEL) is 'loud'"), "\(loud.stderr)")
        #expect(loud.stderr.contains("trace, debug, info, notice, warning, error, critical"), "\(loud.stderr)")
        #expect(loud.stdout.isEmpty)
    }
}

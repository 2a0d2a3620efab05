import ArgumentParser
import Foundation
import GuardianFlow

struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Start, stop or inspect the local MLflow server (SQLite and artifacts under the work dir).",
        discussion: """
            The local server is what guardianflow uses when no tracking URI is set; commands start it \
            themselves when it is not answering. It listens on 127.0.0.1:5000 (GUARDIANFLOW_SERVER_PORT) \
            and keeps everything under <work dir>/server.
            """,
        subcommands: [Start.self, Stop.self, Status.self]
    )

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "start", abstract: "Start the local server unless it already answers.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await global.run { settings in
                let server = LocalMLflowServer(settings: settings)
                log.notice("Starting the local MLflow server at \(server.uri)…")
                let started = try await server.start()
                let status = await server.status()
                try await output.print(status) {
                    Console.out(
                        started
                            ? "The local MLflow server is up at \(server.uri) (MLflow \(status.version ?? "?"), log \(server.logFile))."
                            : "A server already answers at \(server.uri) (MLflow \(status.version ?? "?")).")
                }
            }
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop the local server this work dir started.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await global.run { settings in
                let server = LocalMLflowServer(settings: settings)
                if let stopped = await server.stop() {
                    Console.out("Stopped the local MLflow server at \(stopped).")
                } else if await server.isAnswering() {
                    Console.out("A server answers at \(server.uri) but this work dir (\(settings.workDir)) did not start it; left running.")
                } else {
                    Console.out("No local MLflow server is running for \(settings.workDir).")
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status", abstract: "Say whether the local server runs and answers (exit 0), or not (exit 69).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            var running = false
            try await global.run { settings in
                let status = await LocalMLflowServer(settings: settings).status()
                running = status.running
                try await output.print(status) {
                    if status.running {
                        Console.out(
                            "running at \(status.uri): MLflow \(status.version ?? "?"), pid \(status.pid.map(String.init) ?? "unknown"), "
                                + "data in \(status.workDir)/server")
                    } else {
                        Console.out("not running (\(status.uri)); start it with `guardianflow server start`")
                    }
                    if let remote = settings.trackingURI {
                        Console.out("Note: a tracking URI is set (\(Redaction.redactURIs(remote))); commands use that server, not this local one.")
                    }
                }
            }
            if !running { throw ExitCode(69) }
        }
    }
}

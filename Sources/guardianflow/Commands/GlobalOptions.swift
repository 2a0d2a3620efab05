import ArgumentParser
import Foundation
import GuardianFlow

/// Options every command takes: where the settings and the server are, and how much to say.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: ArgumentHelp("A config file to read instead of guardianflow.yaml.", valueName: "path"))
    var configFile: String?

    @Option(help: ArgumentHelp("The MLflow tracking server (overrides MLFLOW_TRACKING_URI).", valueName: "uri"))
    var trackingURI: String?

    @Option(help: ArgumentHelp("Where guardianflow keeps its local server and state (overrides GUARDIANFLOW_WORK_DIR).", valueName: "dir"))
    var workDir: String?

    @Flag(name: [.short, .long], help: "Say what guardianflow does and why on stderr (log level debug; GUARDIANFLOW_LOG_LEVEL sets others).")
    var verbose = false

    @Flag(name: [.short, .long], help: "Print only errors on stderr (no progress, no notices); the result still goes to stdout.")
    var quiet = false

    func validate() throws {
        if verbose && quiet { throw ValidationError("--verbose and --quiet contradict each other; give one of them.") }
    }

    /// The effective settings; also sets how much the logs say from here on.
    func settings(flags: [SettingKey: String] = [:]) throws -> Settings {
        StderrLogHandler.install()
        if verbose { StderrLogHandler.threshold = .debug }
        if quiet { StderrLogHandler.threshold = .error }
        var flags = flags
        if let trackingURI { flags[.trackingURI] = trackingURI }
        if let workDir { flags[.workDir] = workDir }
        let settings = try ConfigLoader().load(flags: flags, configFile: configFile)
        if !verbose && !quiet { StderrLogHandler.threshold = settings.logLevel }
        return settings
    }

    /// Loads the settings and runs `body` with them. Any error, a bad config included, is
    /// printed on stderr as `error: …` and becomes the command's exit code.
    func run(flags: [SettingKey: String] = [:], _ body: (Settings) async throws -> Void) async throws {
        try await reportingErrors {
            let settings = try self.settings(flags: flags)
            Console.secrets = settings.secretValues
            try await body(settings)
        }
    }

    /// ``run(flags:_:)`` connected to the tracking server (the local one started when no URI is set).
    func withClient(flags: [SettingKey: String] = [:], _ body: (Settings, MLflowClient) async throws -> Void) async throws {
        try await run(flags: flags) { settings in
            try await body(settings, try await TrackingConnector(settings: settings).connect())
        }
    }
}

/// Runs a command's body and turns any error into its message on stderr and its exit code.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        let wrapped = GuardianFlowError.wrap(error)
        Console.err("error: \(wrapped.description)")
        throw ExitCode(wrapped.exitCode)
    }
}

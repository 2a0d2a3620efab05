import ArgumentParser
import Foundation
import GuardianFlow

/// Options every command that talks to MLflow takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: ArgumentHelp("A config file to read instead of guardianflow.yaml.", valueName: "path"))
    var configFile: String?

    @Option(help: ArgumentHelp("The MLflow tracking server (overrides MLFLOW_TRACKING_URI).", valueName: "uri"))
    var trackingURI: String?

    @Option(help: ArgumentHelp("Where guardianflow keeps its local server and state (overrides GUARDIANFLOW_WORK_DIR).", valueName: "dir"))
    var workDir: String?

    /// The effective settings.
    func settings(flags: [SettingKey: String] = [:]) throws -> Settings {
        var flags = flags
        if let trackingURI { flags[.trackingURI] = trackingURI }
        if let workDir { flags[.workDir] = workDir }
        return try ConfigLoader().load(flags: flags, configFile: configFile)
    }
}

/// `--json`, for commands with machine-readable output.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON on stdout (and nothing else there).")
    var json = false
}

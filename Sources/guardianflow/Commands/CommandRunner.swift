import ArgumentParser
import Foundation
import GuardianFlow
import MLflow

/// Runs a command's body and turns any error into its message on stderr and its exit code.
func runReporting(_ settings: Settings? = nil, _ body: () async throws -> Void) async throws {
    if let settings { Console.secrets = settings.secretValues }
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

/// Loads settings, reporting a bad config like any other error.
func loadSettings(_ options: GlobalOptions, flags: [SettingKey: String] = [:]) async throws -> Settings {
    var loaded: Settings?
    try await runReporting {
        loaded = try options.settings(flags: flags)
    }
    return loaded!
}

/// Connects to the tracking server, telling the user on stderr when the local one is started.
func connect(_ settings: Settings) async throws -> MLflowClient {
    try await TrackingConnector(settings: settings, notice: { Console.err($0) }).connect()
}

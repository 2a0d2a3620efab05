import Config
import Foundation
import GuardianFlowCore
import Logging
import MLflow

/// Turns settings into a connected ``MLflowClient``: the configured tracking server, or the
/// local embedded one, started when it is not answering.
public struct TrackingConnector: Sendable {
    public var settings: Settings
    /// Says what the user should know (the local server being started).
    public var logger: Logger

    public init(settings: Settings, logger: Logger = GuardianFlowLogging.logger("tracking")) {
        self.settings = settings
        self.logger = logger
    }

    /// Whether no tracking URI is configured, so the embedded local server is used.
    public var usesEmbeddedServer: Bool { settings.trackingURI == nil }

    /// The client for the configured server, without contacting it.
    ///
    /// - Parameter retry: defaults to the interactive policy with the configured budget.
    public func makeClient(retry: RetryPolicy? = nil) throws -> MLflowClient {
        let uri = settings.trackingURI ?? LocalMLflowServer(settings: settings).uri
        let policy = retry ?? RetryPolicy(budget: .milliseconds(Int64(settings.httpRetrySeconds * 1000)))
        do {
            let parsed = try TrackingURI(uri)
            let auth = MLflowAuth.resolve(
                username: settings[.trackingUsername], password: settings[.trackingPassword],
                token: settings[.trackingToken], uriCredentials: parsed.credentials.map { ($0.username, $0.password) })
            var client = try MLflowClient(trackingURI: uri, auth: auth, insecureTLS: settings.insecureTLS, retry: policy)
            client.requestTimeout = settings.httpTimeout
            return client
        } catch let error as MLflowError {
            throw GuardianFlowError.invalidInput(error.description)
        }
    }

    /// A client whose server answers: with no tracking URI configured, the local server is
    /// started first if needed (and the logger says so).
    public func connect(retry: RetryPolicy? = nil) async throws -> MLflowClient {
        if usesEmbeddedServer {
            let server = LocalMLflowServer(settings: settings)
            if !(await server.isAnswering()) {
                logger.notice(
                    "No tracking URI is set (MLFLOW_TRACKING_URI); starting the local MLflow server at \(server.uri) (data in \(server.serverDir), log \(server.logFile))."
                )
                try await server.start()
                logger.notice("The local MLflow server is up; its UI is at \(server.uri).")
            }
        }
        logger.debug("Tracking server: \(Redaction.redactURIs(settings.trackingURI ?? LocalMLflowServer(settings: settings).uri)).")
        return try makeClient(retry: retry)
    }
}

import GuardianFlow
import Logging

/// Prints the library's log lines on stderr as a person reads them: notices and warnings as
/// they are, errors after `error:`, and the `--verbose` levels after their name (`debug: …`).
/// Secrets are scrubbed and a live progress line is ended first (``Console/err(_:)``).
///
/// One threshold holds for the whole process: `--verbose`, `--quiet` or
/// `GUARDIANFLOW_LOG_LEVEL` set it once the command's settings are known.
struct StderrLogHandler: LogHandler {
    /// The least severe level printed.
    static var threshold: Logger.Level {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
    private static let current = Locked(Logger.Level.notice)

    /// Installs the handler for every logger of the process; later calls do nothing.
    static func install() { _ = installed }
    private static let installed: Void = LoggingSystem.bootstrap { _ in StderrLogHandler() }

    var metadata: Logger.Metadata = [:]

    /// The process-wide ``threshold``: a level set on one logger does not override it.
    var logLevel: Logger.Level {
        get { Self.threshold }
        set {}
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        Console.err(Self.line(level: event.level, message: event.message.description))
    }

    /// The line for one message.
    static func line(level: Logger.Level, message: String) -> String {
        switch level {
        case .trace, .debug, .info: "\(level.rawValue): \(message)"
        case .notice, .warning: message
        case .error, .critical: "error: \(message)"
        }
    }
}

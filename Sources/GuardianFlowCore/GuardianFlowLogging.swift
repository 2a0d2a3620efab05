import Logging

/// guardianflow logs through swift-log. Library types take a `Logger` at construction (the
/// default is one of these); the executable installs a handler that prints to stderr, at the
/// level `--verbose`, `--quiet` or `GUARDIANFLOW_LOG_LEVEL` choose.
///
/// The levels, as guardianflow uses them:
/// - `error`: what failed (the command's own error is printed by the executable);
/// - `warning`: something the user should act on or know went wrong, while work goes on
///   (MLflow not answering, a batch refused, GPU metrics off);
/// - `notice`: what the user should know happened (the local server started, MLflow answers
///   again, a dead run recovered): shown by default;
/// - `info`, `debug`: what guardianflow is doing and why, for `--verbose`.
public enum GuardianFlowLogging {
    /// The logger of one component, labelled `guardianflow.<component>`.
    public static func logger(_ component: String) -> Logger {
        Logger(label: "guardianflow.\(component)")
    }

    /// Parses a level name as `GUARDIANFLOW_LOG_LEVEL` takes it (`trace` … `critical`, any case).
    public static func level(named name: String) -> Logger.Level? {
        Logger.Level(rawValue: name.lowercased())
    }

    /// The level names, least severe first.
    public static var levelNames: [String] { Logger.Level.allCases.map(\.rawValue) }
}

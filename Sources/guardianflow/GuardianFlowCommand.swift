import ArgumentParser
import GuardianFlow

@main
struct GuardianFlowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guardianflow",
        abstract: "Train YOLO detectors with ultralytics, tracked in MLflow, with a model registry you can trust.",
        discussion: """
            guardianflow talks to the MLflow tracking server in MLFLOW_TRACKING_URI. With none set, it \
            uses a local server under the work dir (~/.guardianflow), starting it when needed; its UI is \
            at http://127.0.0.1:5000.

            Settings come from flags, then the environment (MLFLOW_*, AWS_*, GUARDIANFLOW_*), then \
            guardianflow.yaml in the working directory or ~/.config/guardianflow/, then defaults: \
            see `guardianflow config show`.

            Results go to stdout (--json for scripts); progress, notices and errors to stderr. Every \
            command takes --verbose (-v: what it does and why) and --quiet (-q: errors only); \
            GUARDIANFLOW_LOG_LEVEL sets the level otherwise.

            Exit codes: 0 ok, 64 usage, 65 bad input (dataset, model, config), 69 a service \
            unreachable, 74 local disk failure (a full or read-only work dir, a file that cannot be \
            written), 77 credentials refused, 3 training failed, 4 out of memory, 5 promotion \
            refused by the gate, 6 registry or run state (unknown model, version, experiment or run; \
            no candidate or rollback; already champion; a run that cannot be resumed), 8 partly done \
            (import: some run folders were damaged and skipped, the others imported), 70 internal \
            error (a bug: please report it), 130 interrupted, 143 terminated.
            """,
        version: GuardianFlowInfo.version,
        subcommands: [
            TrainCommand.self, PromoteCommand.self, RollbackCommand.self, HistoryCommand.self, ModelsCommand.self, PullCommand.self,
            ListCommand.self, ConfigCommand.self, DoctorCommand.self, ServerCommand.self, SystemMetricsCommand.self, SyncCommand.self, RunsCommand.self,
            ImportCommand.self, SubmitCommand.self, JobsCommand.self, CancelCommand.self,
        ]
    )
}

/// The executable's own logger; the library's components log through theirs. What it prints,
/// and from which level, is ``StderrLogHandler``'s (made on each use, so never before that
/// handler is installed).
var log: Logger { GuardianFlowLogging.logger("cli") }

import Config
import Foundation
import Glibc
import GuardianFlowCore
import PathSupport

/// The running trainer, as the runner sees it: a stream of events, a way to stop it, its end.
public protocol TrainerProcess: Sendable {
    /// The events, in order; the stream ends when the trainer's event channel closes.
    var events: AsyncStream<TrainerEvent> { get }
    /// Stops the trainer and every process it started: SIGTERM, then SIGKILL after `grace`.
    func stop(grace: Duration) async
    /// Waits for the trainer to end.
    func waitForExit() async -> ProcessExit
    /// The last lines of its human log, for error messages.
    func logTail(lines: Int) -> String
    /// The process group of the trainer and the workers it forks, for the system metrics; nil
    /// when it is not a process of this machine.
    var processGroup: Int32? { get }
}

extension TrainerProcess {
    public var processGroup: Int32? { nil }
}

/// Starts trainers; the seam tests replace to replay recorded events.
public protocol TrainerLauncher: Sendable {
    func launch(_ job: TrainingJob, logFile: String) throws -> any TrainerProcess
}

/// Runs the trainer bridge in the project venv, in its own process group, with its human log
/// in `logFile` and its events on a pipe. It never logs to MLflow and never reaches the network.
public struct PythonTrainerLauncher: TrainerLauncher {
    public var python: PythonEnvironment
    /// ultralytics' private settings folder (its MLflow callback off).
    public var configDirectory: String

    public init(python: PythonEnvironment, configDirectory: String) {
        self.python = python
        self.configDirectory = configDirectory
    }

    /// The environment the child gets: no MLflow, AWS or guardianflow settings (no secrets
    /// reach the trainer or its log; none of them, whatever its name, changes what the trainer
    /// does), offline, private ultralytics settings.
    public func childEnvironment(_ base: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        var environment = base.filter { key, _ in
            !(key.hasPrefix("MLFLOW_") || key.hasPrefix("AWS_") || key.hasPrefix("GUARDIANFLOW_")
                || key == "S3_ENDPOINT_URL" || key == "WORK_DIR" || key == "ULTRALYTICS_API_KEY")
        }
        environment["YOLO_OFFLINE"] = "1"
        environment["YOLO_CONFIG_DIR"] = configDirectory
        environment["PYTHONUNBUFFERED"] = "1"
        environment["GUARDIANFLOW_PARENT_PID"] = String(getpid())
        return environment
    }

    public func launch(_ job: TrainingJob, logFile: String) throws -> any TrainerProcess {
        let manager = FileManager.default
        try manager.createDirectory(atPath: configDirectory, withIntermediateDirectories: true)
        try manager.createDirectory(atPath: FilePaths.parent(logFile), withIntermediateDirectories: true)
        let jobFile = logFile + ".job.json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(job).write(to: URL(fileURLWithPath: jobFile))
        let child = try ChildProcess.spawn(
            ProcessSpec(
                executable: python.python, arguments: ["-m", "guardianflow_trainer", "--job", jobFile],
                environment: childEnvironment(), stdout: .pipe, stderr: .file(logFile, append: true), grouping: .newGroup))
        return PythonTrainerProcess(child: child, logFile: logFile)
    }
}

/// A running `python -m guardianflow_trainer`.
final class PythonTrainerProcess: TrainerProcess, @unchecked Sendable {
    let child: ChildProcess
    let logFile: String
    let events: AsyncStream<TrainerEvent>

    init(child: ChildProcess, logFile: String) {
        self.child = child
        self.logFile = logFile
        let lines = ChildProcess.lines(of: child.stdout!)
        self.events = AsyncStream { continuation in
            let task = Task {
                for await line in lines {
                    if let event = TrainerEvent.parse(line) { continuation.yield(event) }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    var processGroup: Int32? { child.pid }

    func stop(grace: Duration) async {
        await child.terminate(grace: grace)
    }

    func waitForExit() async -> ProcessExit {
        let exit = await child.waitForExit()
        // Anything the trainer left behind in its group goes with it.
        child.signal(SIGKILL)
        return exit
    }

    func logTail(lines: Int) -> String {
        guard let text = try? String(contentsOfFile: logFile, encoding: .utf8) else { return "" }
        return text.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines).joined(separator: "\n")
    }
}

import Config
import Foundation
import Glibc
import GuardianFlowCore
import PathSupport

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

    /// The launcher guardianflow uses: ultralytics' settings in `<work dir>/ultralytics-config`.
    public init(python: PythonEnvironment, workDir: String) {
        self.init(python: python, configDirectory: (workDir as NSString).appendingPathComponent("ultralytics-config"))
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

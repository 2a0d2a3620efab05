import Config
import Foundation
import GuardianFlowCore
import Logging
import MLflow
import Tracking
import Training

/// `guardianflow submit`: a training queued with an executor, tracked from the moment it is
/// queued. Everything is validated as `train` validates; the run is created SCHEDULED (the UI shows
/// it queued) with its params and tags; the batch script is written under the work dir and
/// submitted; the run is tagged with the job. A request the scheduler refuses removes the run:
/// nothing is left behind.
public struct TrainingSubmitter: Sendable {
    let runner: TrainingRunner
    let executor: any TrainingExecutor
    let settings: Settings
    let logger: Logger

    public init(
        runner: TrainingRunner, executor: any TrainingExecutor, settings: Settings, logger: Logger = GuardianFlowLogging.logger("jobs")
    ) {
        self.runner = runner
        self.executor = executor
        self.settings = settings
        self.logger = logger
    }

    public struct Submitted: Sendable, Encodable {
        public var runId: String
        public var jobId: String
        public var experimentId: String
        public var runName: String
        public var executor: String
        public var output: String

        enum CodingKeys: String, CodingKey {
            case runId = "run_id"
            case jobId = "job_id"
            case experimentId = "experiment_id"
            case runName = "run_name"
            case executor, output
        }
    }

    /// - Parameters:
    ///   - trainArguments: `train`'s options for the job, paths absolute, without `--attach`.
    ///   - resources: what the job asks the scheduler for.
    public func submit(options: TrainingOptions, trainArguments: [String], resources: SlurmResources) async throws -> Submitted {
        var options = options
        var trainArguments = trainArguments
        if let device = try Self.device(options.device, gpus: resources.gpus, logger: logger), device != options.device {
            options.device = device
            trainArguments += ["--device", device]
        }
        try executor.checkAvailable()
        let client = try await TrackingConnector(settings: settings, logger: logger).connect()
        do {
            _ = try await JobReaper(client: client, executors: [executor], logger: logger).reap()
        } catch {
            logger.warning("Runs of jobs that are gone could not be ended before this submit: \(GuardianFlowError.wrap(error).description)")
        }
        let info = try await runner.schedule(
            options: options, tags: [SchedulingTags.executor: executor.name, SchedulingTags.submittedAt: SchedulingTags.timestamp()])
        let directory = (settings.workDir as NSString).appendingPathComponent("jobs")
        let command = [PythonEnvironment.currentExecutable(), "train", "--attach", info.runId] + trainArguments
        let jobId: String
        do {
            jobId = try await executor.submit(
                JobSubmission(runId: info.runId, runName: info.runName, command: command, resources: resources, directory: directory))
        } catch {
            // Refused (or never sent): the SCHEDULED run goes, so nothing is left behind.
            try? await client.deleteRun(runId: info.runId)
            throw error
        }
        let output = (directory as NSString).appendingPathComponent(
            executor.name == "slurm" ? "\(info.runId)-\(jobId).out" : "\(info.runId)-local.out")
        try await client.logBatch(
            runId: info.runId,
            tags: [KeyValue(key: SchedulingTags.jobId, value: jobId), KeyValue(key: SchedulingTags.jobOutput, value: output)])
        return Submitted(
            runId: info.runId, jobId: jobId, experimentId: info.experimentId, runName: info.runName, executor: executor.name, output: output
        )
    }

    /// The device the job's training uses. The job sees the GPUs it was given as 0 to N-1
    /// (Slurm sets CUDA_VISIBLE_DEVICES), so `--gpus N` above one trains on all N (multi-GPU DDP)
    /// unless `--device` says otherwise, and a `--device` naming more is refused.
    public static func device(_ device: String?, gpus: Int?, logger: Logger) throws -> String? {
        guard let device else {
            guard let gpus, gpus > 1 else { return nil }
            return (0..<gpus).map(String.init).joined(separator: ",")
        }
        guard let indices = TrainingInputValidator.gpuIndices(device) ?? (device.lowercased() == "cuda" ? [0] : nil) else { return device }
        guard let gpus else {
            logger.warning(
                "--device \(device) asks for a GPU, but the job asks Slurm for none: unless the partition gives GPUs by default, add --gpus \(indices.count)."
            )
            return device
        }
        if let beyond = indices.first(where: { $0 >= gpus }) {
            throw GuardianFlowError.invalidInput(
                "--device '\(device)' asks for GPU \(beyond), but --gpus \(gpus) gives the job \(gpus) GPU\(gpus == 1 ? "" : "s"), which it sees as "
                    + "\(gpus == 1 ? "0" : "0 to \(gpus - 1)") (CUDA_VISIBLE_DEVICES). Leave --device out to train on every GPU the job gets."
            )
        }
        return device
    }

    /// The paths a job's node must reach at the same place (the binary, the venv, the data, the
    /// model, the work dir), and those of them that are on a filesystem only this machine has.
    public static func sharedPaths(_ paths: [String]) -> (all: [String], local: [String]) {
        // /proc/mounts: the filesystem each path is on (the longest mount point above it).
        let mounts = ((try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            line -> (point: String, type: String)? in
            let fields = line.split(separator: " ")
            return fields.count >= 3 ? (String(fields[1]), String(fields[2])) : nil
        }
        var local: [String] = []
        for path in paths {
            let mount = mounts.filter { path == $0.point || path.hasPrefix($0.point == "/" ? "/" : $0.point + "/") }
                .max { $0.point.count < $1.point.count }
            if mount?.type == "tmpfs" || path.hasPrefix("/tmp/") { local.append(path) }
        }
        return (paths, local)
    }
}

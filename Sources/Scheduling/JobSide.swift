import Config
import Foundation
import GuardianFlowCore
import MLflow
import Tracking
import Training

/// What a submitted job does on its node: `guardianflow train --attach RUN_ID`, with the node and
/// the GPUs the scheduler gave recorded, and, when a signal stops it, whether that was the job's
/// time limit.
public enum JobSide {
    /// The tags a job's training adds as it starts.
    public static func startTags(environment: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        var tags = ["guardianflow.node": ProcessInfo.processInfo.hostName]
        if let devices = environment["CUDA_VISIBLE_DEVICES"] { tags["guardianflow.cuda_visible_devices"] = devices }
        if let job = environment["SLURM_JOB_ID"] { tags["guardianflow.slurm_job_id"] = job }
        if let gpus = environment["SLURM_JOB_GPUS"] { tags["guardianflow.slurm_job_gpus"] = gpus }
        return tags
    }

    /// Trains the run; a stop is tagged with what stopped it (`guardianflow.ended_by`: `time limit`
    /// when the job's time limit was due, else `signal`).
    public static func attach(
        runner: TrainingRunner, runId: String, options: TrainingOptions, settings: Settings,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws -> TrainingResult {
        do {
            return try await runner.attach(runId: runId, options: options, tags: startTags(environment: environment))
        } catch let error as GuardianFlowError {
            if case .invalidInput(let message) = error {
                await failScheduled(runId: runId, message: message, settings: settings, environment: environment)
                throw error
            }
            guard case .interrupted = error else { throw error }
            var endedBy = "signal"
            if let job = environment["SLURM_JOB_ID"] {
                let lead = TimeInterval(environment["GUARDIANFLOW_JOB_SIGNAL_LEAD"] ?? "") ?? 120
                if await SlurmExecutor(environment: environment).hittingTimeLimit(jobId: job, lead: lead) { endedBy = "time limit" }
            }
            if let client = try? TrackingConnector(settings: settings).makeClient() {
                try? await client.setTag(runId: runId, key: SchedulingTags.endedBy, value: endedBy)
            }
            throw error
        }
    }

    /// A job whose checks fail on its node (a dataset the node cannot reach, GPUs it does not
    /// have) ends its SCHEDULED run FAILED with the reason, rather than leave it for the reaper to
    /// find with only Slurm's state.
    static func failScheduled(runId: String, message: String, settings: Settings, environment: [String: String]) async {
        guard let client = try? TrackingConnector(settings: settings).makeClient(),
            let run = try? await client.getRun(id: runId), run.info.status == .scheduled
        else { return }
        var tags = startTags(environment: environment)
        tags["guardianflow.error.kind"] = "input"
        tags["guardianflow.error.message"] = Redaction.scrub(
            "on \(tags["guardianflow.node"] ?? "the node"): \(message)", secrets: settings.secretValues)
        tags[SchedulingTags.endedBy] = "input check"
        _ = try? await client.logBatch(runId: runId, tags: tags.sorted { $0.key < $1.key }.map { KeyValue(key: $0.key, value: $0.value) })
        _ = try? await client.updateRun(runId: runId, status: .failed, endTime: Int64(Date().timeIntervalSince1970 * 1000))
    }
}

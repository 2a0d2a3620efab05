import Foundation
import GuardianFlowCore
import Logging
import MLflow

/// Ends the submitted runs whose job is gone: a run left SCHEDULED or RUNNING while the scheduler
/// says the job FAILED, ran out of time or memory, lost its node, was cancelled, or no longer
/// knows it. Run by `runs reap` and before every `submit`, so a run never stays open for a job
/// that is gone.
public struct JobReaper: Sendable {
    let client: MLflowClient
    let executors: [any TrainingExecutor]
    let logger: Logger

    public init(client: MLflowClient, executors: [any TrainingExecutor], logger: Logger = GuardianFlowLogging.logger("jobs")) {
        self.client = client
        self.executors = executors
        self.logger = logger
    }

    /// The executors that can be asked from here: Slurm when its commands are on PATH, and local.
    public static func availableExecutors(logger: Logger = GuardianFlowLogging.logger("jobs")) -> [any TrainingExecutor] {
        [SlurmExecutor(logger: logger), LocalExecutor()].filter { (try? $0.checkAvailable()) != nil }
    }

    /// One run this reaper ended.
    public struct Outcome: Sendable, Equatable {
        public var runId: String
        public var jobId: String
        public var schedulerState: String
        public var status: RunStatus
    }

    /// The status a run gets for its job's end state.
    public static func status(forJobState state: String?) -> RunStatus {
        switch state {
        case "CANCELLED", "TIMEOUT", "PREEMPTED", "DEADLINE", nil: .killed
        default: .failed
        }
    }

    /// Every run submitted through one of `executors` (all experiments), with its job's status.
    public func submittedRuns() async throws -> [(run: Run, job: JobStatus?)] {
        let ids = try await client.allExperiments().map(\.experimentId)
        guard !ids.isEmpty else { return [] }
        let runs = try await client.allRuns(experimentIds: ids, filter: "tags.`\(SchedulingTags.jobId)` LIKE '%'")
        var out: [(Run, JobStatus?)] = []
        for executor in executors {
            let mine = runs.filter { $0.tags[SchedulingTags.executor] == executor.name }
            let jobIds = mine.compactMap { $0.tags[SchedulingTags.jobId] }
            let statuses = jobIds.isEmpty ? [:] : try await executor.status(of: jobIds)
            for run in mine { out.append((run, run.tags[SchedulingTags.jobId].flatMap { statuses[$0] })) }
        }
        return out.sorted { ($0.0.info.startTime ?? 0) > ($1.0.info.startTime ?? 0) }
    }

    /// Ends the open runs whose jobs are gone.
    public func reap() async throws -> [Outcome] {
        var outcomes: [Outcome] = []
        for (run, job) in try await submittedRuns() where run.info.status == .scheduled || run.info.status == .running {
            guard let jobId = run.tags[SchedulingTags.jobId] else { continue }
            // COMPLETING is active too: a signalled training may still be ending its run itself.
            if let job, job.isActive { continue }
            let state = job?.state
            // Read again: the training may have ended it meanwhile.
            guard let fresh = try? await client.getRun(id: run.info.runId), fresh.info.status == .scheduled || fresh.info.status == .running
            else {
                continue
            }
            let status = Self.status(forJobState: state)
            let said = state ?? "unknown to the scheduler (gone)"
            var tags = [
                KeyValue(key: SchedulingTags.schedulerState, value: said), KeyValue(key: "guardianflow.reaped", value: "true"),
                KeyValue(key: "guardianflow.reaped_at", value: SchedulingTags.timestamp()),
            ]
            if state == "TIMEOUT" { tags.append(KeyValue(key: SchedulingTags.endedBy, value: "time limit")) }
            if let reason = job?.reason { tags.append(KeyValue(key: "guardianflow.scheduler_reason", value: reason)) }
            try await client.logBatch(runId: run.info.runId, tags: tags)
            let end = job?.endTime.map { Int64($0.timeIntervalSince1970 * 1000) } ?? mlflowTimestamp()
            try await client.updateRun(runId: run.info.runId, status: status, endTime: max(end, run.info.startTime ?? 0))
            logger.notice("Run \(run.info.runId) (job \(jobId)): the job is \(said); the run is ended \(status.rawValue).")
            outcomes.append(Outcome(runId: run.info.runId, jobId: jobId, schedulerState: said, status: status))
        }
        return outcomes
    }
}

import ArgumentParser
import Foundation
import GuardianFlow

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Stop a submitted training (scancel): a queued one ends KILLED at once, a running one ends KILLED with last.pt uploaded.",
        discussion: """
            A running training gets SIGTERM from Slurm, ends its run KILLED with last.pt uploaded (ready for \
            `guardianflow train --resume RUN_ID`, or a new `submit`), and `cancel` waits for that, up to \
            --wait seconds; a queued one is removed from the queue and its run ends KILLED at once. Either way \
            the run is tagged guardianflow.ended_by=cancelled.

            Exit codes: 0 cancelled, 6 no such run, or a run that was not submitted or has already ended, \
            69 Slurm or MLflow unreachable.
            """
    )
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "The run, as `submit` and `jobs` print it.") var runId: String
    @Option(help: ArgumentHelp("How long to wait for a running training to end its run (default 120).", valueName: "seconds")) var wait =
        120

    struct Result: Encodable {
        var run_id: String
        var job_id: String
        var status: String
        var was: String
    }

    func run() async throws {
        try await global.withClient { settings, client in
            let run: Run
            do {
                run = try await client.getRun(id: runId)
            } catch let error as MLflowError where error.isNotFound || error.errorCode == "INVALID_PARAMETER_VALUE" {
                throw GuardianFlowError.registryState("There is no run \(runId) on \(Redaction.redactURIs(client.trackingURI.baseURL)).")
            }
            guard let jobId = run.tags[SchedulingTags.jobId], let name = run.tags[SchedulingTags.executor] else {
                throw GuardianFlowError.registryState(
                    "Run \(runId) was not submitted (it has no guardianflow.job_id): only a training from `guardianflow submit` can be cancelled. "
                        + "A training in a terminal stops with Ctrl-C.")
            }
            guard run.info.status == .scheduled || run.info.status == .running else {
                throw GuardianFlowError.registryState(
                    "Run \(runId) has already ended \(run.info.status.rawValue); there is nothing to cancel.")
            }
            let executor: any TrainingExecutor = name == "local" ? LocalExecutor() : SlurmExecutor(logger: log)
            try executor.checkAvailable()
            let was = run.info.status
            try await client.setTag(runId: runId, key: SchedulingTags.endedBy, value: "cancelled")
            try await executor.cancel(jobId)
            var status = was
            if was == .scheduled {
                // Still queued: no training will end it.
                try await client.logBatch(
                    runId: runId, tags: [KeyValue(key: SchedulingTags.schedulerState, value: "CANCELLED (while pending)")])
                try await client.updateRun(runId: runId, status: .killed, endTime: mlflowTimestamp())
                status = .killed
            } else {
                log.notice("Job \(jobId) cancelled; waiting for the training to end run \(runId) (last.pt uploaded)…")
                let deadline = Date().addingTimeInterval(TimeInterval(wait))
                while Date() < deadline {
                    status = try await client.getRun(id: runId).info.status
                    if status.isTerminal { break }
                    try await Task.sleep(for: .seconds(1))
                }
                if !status.isTerminal {
                    // The job did not end it in time: the reaper does, once Slurm has let it go.
                    _ = try await JobReaper(client: client, executors: [executor], logger: log).reap()
                    status = try await client.getRun(id: runId).info.status
                }
            }
            let result = Result(run_id: runId, job_id: jobId, status: status.rawValue, was: was.rawValue)
            try await output.print(result) {
                Console.out("Run \(runId) (job \(jobId)), \(was.rawValue.lowercased()) when cancelled: \(status.rawValue).")
            }
        }
    }
}

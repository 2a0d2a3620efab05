import ArgumentParser
import Foundation
import GuardianFlow

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "List the trainings guardianflow submitted: the scheduler's state, the run's status, how long queued or running.",
        discussion: """
            One row per submitted run (every experiment), newest first: the run, its job, what Slurm says \
            of the job (squeue's state, or `gone` once Slurm has forgotten it), the run's status in MLflow, \
            the experiment, and how long it has been queued or running (or ran). --json for scripts. \
            `guardianflow runs reap` ends the runs whose jobs are gone.
            """
    )
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions
    @Flag(help: "Only the runs still SCHEDULED or RUNNING.") var open = false

    struct Row: Encodable {
        var run_id: String
        var run_name: String
        var job_id: String
        var executor: String
        var scheduler_state: String
        var status: String
        var experiment: String
        var experiment_id: String
        /// Seconds queued (SCHEDULED) or running (RUNNING), or the run's length once it ended.
        var seconds: Int
    }

    func run() async throws {
        try await global.withClient { settings, client in
            let runs = try await JobReaper(client: client, executors: JobReaper.availableExecutors(logger: log), logger: log)
                .submittedRuns()
            var names: [String: String] = [:]
            for experiment in try await client.allExperiments() { names[experiment.experimentId] = experiment.name }
            let now = Date()
            let rows = runs.filter { !open || $0.run.info.status == .scheduled || $0.run.info.status == .running }.map { run, job in
                let info = run.info
                let startedAt = run.tags["guardianflow.started_at"].flatMap(SchedulingTags.date)
                let submittedAt = Date(timeIntervalSince1970: Double(info.startTime ?? 0) / 1000)
                let seconds: TimeInterval
                switch info.status {
                case .scheduled: seconds = now.timeIntervalSince(submittedAt)
                case .running: seconds = now.timeIntervalSince(startedAt ?? submittedAt)
                default:
                    seconds = Double((info.endTime ?? info.startTime ?? 0) - (info.startTime ?? 0)) / 1000
                }
                return Row(
                    run_id: info.runId, run_name: info.runName, job_id: run.tags[SchedulingTags.jobId] ?? "-",
                    executor: run.tags[SchedulingTags.executor] ?? "-", scheduler_state: job?.state ?? "gone", status: info.status.rawValue,
                    experiment: names[info.experimentId] ?? info.experimentId, experiment_id: info.experimentId,
                    seconds: max(0, Int(seconds)))
            }
            try await output.print(rows) {
                if rows.isEmpty {
                    Console.out(open ? "No submitted training is queued or running." : "No training was submitted (guardianflow submit).")
                    return
                }
                var table = Table("RUN", "NAME", "JOB", "SLURM", "STATUS", "EXPERIMENT", "FOR")
                for row in rows {
                    table.add(
                        row.run_id, row.run_name, row.job_id, row.scheduler_state, row.status, row.experiment,
                        TimeFormat.duration(from: 0, to: Int64(row.seconds) * 1000))
                }
                Console.out(table.render())
            }
        }
    }
}

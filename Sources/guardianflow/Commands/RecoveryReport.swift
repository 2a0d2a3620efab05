import ArgumentParser
import Foundation
import GuardianFlow

/// What `sync` and `runs reap` share: the recovery, its table or JSON, its exit code.
enum RecoveryReport {
    /// Runs a recovery (`sync`, `runs reap`) and prints its outcomes as a table, or JSON.
    static func run(_ global: GlobalOptions, _ output: OutputOptions, reap: Bool, nothing: (Settings) -> String) async throws {
        try await global.withClient { settings, client in
            var outcomes = await RunRecovery(settings: settings, client: client).recover(reap: reap)
            if reap {
                // Submitted runs whose job is gone (Slurm, or a local background job).
                for ended in try await JobReaper(client: client, executors: JobReaper.availableExecutors(logger: log), logger: log).reap() {
                    outcomes.append(
                        RunRecovery.Outcome(
                            runId: ended.runId, action: .reaped, batchesDelivered: 0,
                            detail: "ended \(ended.status.rawValue): its job \(ended.jobId) is \(ended.schedulerState)"))
                }
            }
            try await print(outcomes, output: output, nothing: nothing(settings))
            // A run left alone for a reason this machine must fix first makes the command fail with
            // that reason's exit code (the first such run's), after the table said which runs.
            if let refused = outcomes.first(where: { $0.exitCode != nil }), let code = refused.exitCode {
                let count = outcomes.filter { $0.exitCode != nil }.count
                throw GuardianFlowError.exiting(
                    code,
                    "\(count) run(s) could not be finished here; their journals are kept for the next run of this command. "
                        + "Run \(refused.runId): \(refused.detail)")
            }
        }
    }

    /// Prints recovery outcomes as a table, or JSON.
    static func print(_ outcomes: [RunRecovery.Outcome], output: OutputOptions, nothing: String) async throws {
        try await output.print(outcomes) {
            if outcomes.isEmpty {
                Console.out(nothing)
                return
            }
            var table = Table("RUN", "ACTION", "BATCHES", "DETAIL")
            table.maxCellWidth = 200
            for outcome in outcomes { table.add(outcome.runId, outcome.action.rawValue, String(outcome.batchesDelivered), outcome.detail) }
            Console.out(table.render())
        }
    }
}

import ArgumentParser
import Foundation
import GuardianFlow

/// Runs a recovery (`sync`, `runs reap`) and prints its outcomes as a table, or JSON.
func recover(_ global: GlobalOptions, _ output: OutputOptions, reap: Bool, nothing: (Settings) -> String) async throws {
    try await global.withClient { settings, client in
        let outcomes = await RunRecovery(settings: settings, client: client).recover(reap: reap)
        try await reportRecovery(outcomes, output: output, nothing: nothing(settings))
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
func reportRecovery(_ outcomes: [RunRecovery.Outcome], output: OutputOptions, nothing: String) async throws {
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

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Deliver the journals left by guardianflow processes that have exited, and finish their runs.",
        discussion: """
            A training logs through a journal in the work dir (<work dir>/journal/<run id>.jsonl). When \
            MLflow stops answering, training goes on and the journal holds what it logged; the same \
            process replays it when the server is back. If that process ended first (the server stayed \
            away past outage_wait_seconds, Ctrl-C, a crash), `sync` delivers the journal in order with \
            the original timestamps and steps, then does the end it had planned: FINISHED with its \
            artifacts and the model version (alias candidate), or FAILED/KILLED. Delivery is at least \
            once: a batch sent again carries its original timestamps and steps, and MLflow stores each \
            metric point once.

            Runs whose process is still alive, or that belong to another tracking server, are left alone. \
            A run left RUNNING with no end planned stays RUNNING: `guardianflow runs reap` ends it.

            Exit codes: 0 when every journal was delivered (or there was none), 69 when MLflow did not \
            take them all, 65 when a run's artifact store cannot be used from here (an s3:// run without \
            the S3 settings), 77 when its credentials are refused, 74 when the work dir cannot be \
            written; the journals of those runs stay, untouched, for the next sync.
            """
    )
    @OptionGroup var global: GlobalOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await recover(global, output, reap: false) { "Nothing to deliver: no journal of a finished process in \($0.workDir)." }
    }
}

struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "Look after runs that guardianflow processes on this machine left behind.",
        subcommands: [Reap.self]
    )

    struct Reap: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reap",
            abstract: "End the runs left RUNNING by guardianflow processes that are gone (KILLED, tagged as reaped).",
            discussion: """
                Each training holds a lease in <work dir>/leases/<run id>.json: its pid, the process's start \
                time and the machine's boot id. A run whose lease holder is gone (killed with SIGKILL, the \
                machine rebooted) is a zombie: reap delivers its journal, then ends it KILLED with the tags \
                guardianflow.reaped=true, guardianflow.reaped_at and guardianflow.reaped_by, uploading its \
                log and last.pt when they are here; it can then be continued with `train --resume RUN_ID`. \
                `guardianflow train` does the same before it starts.
                """
        )
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await recover(global, output, reap: true) { "No run to reap: every lease in \($0.workDir) is held by a live process." }
        }
    }
}

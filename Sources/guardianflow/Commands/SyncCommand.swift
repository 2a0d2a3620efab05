import ArgumentParser
import Foundation
import GuardianFlow

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
        try await RecoveryReport.run(global, output, reap: false) { "Nothing to deliver: no journal of a finished process in \($0.workDir)." }
    }
}

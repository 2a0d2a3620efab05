import ArgumentParser
import Foundation
import GuardianFlow

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
            try await RecoveryReport.run(global, output, reap: true) { "No run to reap: every lease in \($0.workDir) is held by a live process." }
        }
    }
}

import Foundation
import Glibc
import GuardianFlowCore

/// A running `python -m guardianflow_trainer`.
final class PythonTrainerProcess: TrainerProcess, @unchecked Sendable {
    let child: ChildProcess
    let logFile: String
    let events: AsyncStream<TrainerEvent>

    init(child: ChildProcess, logFile: String) {
        self.child = child
        self.logFile = logFile
        let lines = ChildProcess.lines(of: child.stdout!)
        self.events = AsyncStream { continuation in
            let task = Task {
                for await line in lines {
                    if let event = TrainerEvent.parse(line) { continuation.yield(event) }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    var processGroup: Int32? { child.pid }

    func stop(grace: Duration) async {
        await child.terminate(grace: grace)
    }

    func waitForExit() async -> ProcessExit {
        let exit = await child.waitForExit()
        // Anything the trainer left behind in its group goes with it.
        child.signal(SIGKILL)
        return exit
    }

    func logTail(lines: Int) -> String {
        guard let text = try? String(contentsOfFile: logFile, encoding: .utf8) else { return "" }
        return text.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines).joined(separator: "\n")
    }
}

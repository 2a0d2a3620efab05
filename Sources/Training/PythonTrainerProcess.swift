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
        // A multi-GPU training's workers run in sessions of their own (torch.distributed.run starts
        // them so): note them while they are still the trainer's descendants, and make sure they
        // are gone too once the group is.
        let procFS = ProcFS()
        let workers = procFS.group(child.pid).pids.subtracting(procFS.runningMembers(of: child.pid)).compactMap { pid in
            procFS.stat(pid).map { (pid: pid, startTime: $0.startTime) }
        }
        await child.terminate(grace: grace)
        guard !workers.isEmpty else { return }
        func alive() -> [Int32] {
            workers.filter { worker in
                procFS.stat(worker.pid).map { $0.startTime == worker.startTime && $0.state != "Z" } ?? false
            }.map(\.pid)
        }
        let deadline = ContinuousClock.now + grace
        while !alive().isEmpty, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        for pid in alive() { kill(pid, SIGKILL) }
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

import Foundation
import GuardianFlowCore

/// The running trainer, as the runner sees it: a stream of events, a way to stop it, its end.
public protocol TrainerProcess: Sendable {
    /// The events, in order; the stream ends when the trainer's event channel closes.
    var events: AsyncStream<TrainerEvent> { get }
    /// Stops the trainer and every process it started: SIGTERM, then SIGKILL after `grace`.
    func stop(grace: Duration) async
    /// Waits for the trainer to end.
    func waitForExit() async -> ProcessExit
    /// The last lines of its human log, for error messages.
    func logTail(lines: Int) -> String
    /// The process group of the trainer and the workers it forks, for the system metrics; nil
    /// when it is not a process of this machine.
    var processGroup: Int32? { get }
}

extension TrainerProcess {
    public var processGroup: Int32? { nil }
}

/// Starts trainers; the seam tests replace to replay recorded events.
public protocol TrainerLauncher: Sendable {
    func launch(_ job: TrainingJob, logFile: String) throws -> any TrainerProcess
}

import Foundation
import GuardianFlow

/// A trainer that replays scripted events instead of running ultralytics: for the endings
/// that need hardware or timing we cannot arrange on CPU (out of memory, a stop mid-epoch).
public struct ReplayTrainerLauncher: TrainerLauncher {
    /// The events to send, in order.
    public var events: [TrainerEvent]
    /// After the events: keep running until stopped (true) or exit with `exitCode`.
    public var hangAfterEvents: Bool
    public var exitCode: Int32
    /// A pause before each event after the first, as a trainer's epochs take time.
    public var delay: Duration

    public init(events: [TrainerEvent], hangAfterEvents: Bool = false, exitCode: Int32 = 0, delay: Duration = .zero) {
        self.events = events
        self.hangAfterEvents = hangAfterEvents
        self.exitCode = exitCode
        self.delay = delay
    }

    public func launch(_ job: TrainingJob, logFile: String) throws -> any TrainerProcess {
        try FileManager.default.createDirectory(atPath: (logFile as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try "replayed trainer log\n".write(toFile: logFile, atomically: true, encoding: .utf8)
        return ReplayTrainerProcess(events: events, hang: hangAfterEvents, exitCode: exitCode, delay: delay, logFile: logFile)
    }
}

final class ReplayTrainerProcess: TrainerProcess, @unchecked Sendable {
    let events: AsyncStream<TrainerEvent>
    private let continuation: AsyncStream<TrainerEvent>.Continuation
    private let exited = Latch<ProcessExit>()
    let logFile: String

    init(events: [TrainerEvent], hang: Bool, exitCode: Int32, delay: Duration, logFile: String) {
        self.logFile = logFile
        (self.events, self.continuation) = AsyncStream.makeStream()
        guard delay > .zero else {
            for event in events { continuation.yield(event) }
            if !hang {
                continuation.finish()
                finish(.exited(exitCode))
            }
            return
        }
        Task { [continuation] in
            for (i, event) in events.enumerated() {
                if i > 0 { try? await Task.sleep(for: delay) }
                continuation.yield(event)
            }
            if !hang {
                continuation.finish()
                self.finish(.exited(exitCode))
            }
        }
    }

    func finish(_ outcome: ProcessExit) {
        exited.resolve(outcome)
    }

    func stop(grace: Duration) async {
        continuation.finish()
        finish(.signaled(15))
    }

    func waitForExit() async -> ProcessExit {
        await exited.wait()
    }

    func logTail(lines: Int) -> String { "replayed trainer log" }
}

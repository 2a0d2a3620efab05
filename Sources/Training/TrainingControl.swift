#if canImport(Glibc)
import Glibc
#endif
import Foundation
import MLflow

/// Stops a running training from outside: a signal handler, a UI, another task.
///
/// Stopping terminates the trainer's whole process group; the runner then ends the MLflow run
/// KILLED, uploads last.pt and the log, and throws ``GuardianFlowError/interrupted(signal:_:)``.
public final class TrainingControl: @unchecked Sendable {
    private let lock = NSLock()
    private var signal: Int32?
    private var trainer: (any TrainerProcess)?
    /// How long the trainer gets to exit after SIGTERM before SIGKILL.
    public var grace: Duration

    public init(grace: Duration = .seconds(4)) {
        self.grace = grace
    }

    private var ended: RunStatus?

    /// The status the run was given on the server by this process (FINISHED, FAILED, KILLED);
    /// nil while it is open, or when its end was left to `guardianflow sync`.
    public var endedStatus: RunStatus? {
        lock.withLock { ended }
    }

    func recordEnd(_ status: RunStatus) {
        lock.withLock { ended = status }
    }

    /// The signal that stopped the training (SIGINT for a cancelled task), if any.
    public var stopSignal: Int32? {
        lock.withLock { signal }
    }

    /// Asks the training to stop; the first reason given is kept.
    public func stop(signal: Int32 = SIGINT) {
        let current: (any TrainerProcess)? = lock.withLock {
            if self.signal == nil { self.signal = signal }
            return trainer
        }
        if let current {
            let grace = self.grace
            Task.detached { await current.stop(grace: grace) }
        }
    }

    func attach(_ trainer: any TrainerProcess) {
        let stopNow: Bool = lock.withLock {
            self.trainer = trainer
            return signal != nil
        }
        if stopNow {
            let grace = self.grace
            Task.detached { await trainer.stop(grace: grace) }
        }
    }
}

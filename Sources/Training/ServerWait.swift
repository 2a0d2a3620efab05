import Delivery
import GuardianFlowCore
import Logging
import MLflow

/// The end of a training waiting for MLflow to take the run's journal: usually at once; while
/// the server does not answer, up to the outage wait, after which the rest is left in the
/// journal for `guardianflow sync`.
struct ServerWait {
    let run: RunInfo
    let client: MLflowClient
    let journal: RunJournal
    let runLogger: RunLogger
    let control: TrainingControl
    let workDir: String
    let logger: Logger

    /// Waits until the journal's batches are delivered; when MLflow stays away longer than
    /// `limit` (or, when `interruptible`, a stop signal arrives), stops the run's logger, gives
    /// up the run's lease to `guardianflow sync`, and throws the way to finish later.
    func wait(then what: String, limit: Duration, interruptible: Bool) async throws {
        let control = self.control
        let giveUp: @Sendable () -> Bool = { interruptible && control.stopSignal != nil }
        // Usually the journal is delivered at once; if not, say what is being waited for.
        let first = min(limit, .seconds(2))
        var delivered = await runLogger.drain(timeout: first, giveUp: giveUp)
        if !delivered, !giveUp(), limit > first {
            let seconds = (limit - first).components.seconds
            let ctrlC = interruptible ? "; Ctrl-C leaves it to `guardianflow sync`." : "."
            logger.warning(
                "MLflow has not taken \(journal.pendingCount) journal record(s) yet; waiting up to \(seconds) s for it to answer, to \(what)\(ctrlC)")
            delivered = await runLogger.drain(timeout: limit - first, giveUp: giveUp)
        }
        await runLogger.stop()
        guard delivered else {
            // No longer this process's to finish: the journal is `guardianflow sync`'s now.
            RunLease.release(workDir: workDir, runId: run.runId)
            if interruptible, let signal = control.stopSignal {
                throw GuardianFlowError.interrupted(
                    signal: signal,
                    "Stopped while waiting for MLflow. Run \(run.runId) is trained; the rest (\(journal.pendingCount) journal "
                        + "record(s)) waits in \(journal.path): run `guardianflow sync` when the server answers.")
            }
            throw GuardianFlowError.unavailable(
                "MLflow at \(TrackingURI.redact(client.trackingURI.baseURL)) did not answer; the rest of run \(run.runId) "
                    + "(\(journal.pendingCount) journal record(s): metrics, then what \(what) takes) waits in \(journal.path). "
                    + "When the server is back, run `guardianflow sync` to deliver it.")
        }
    }
}

import Delivery
import MLflow

/// How a journaled end went.
enum SessionEnding: Sendable {
    /// The run has its status on the server; what became of its files.
    case ended(RunFinisher.EndOutcome)
    /// MLflow did not take it in time: it waits in the journal for `guardianflow sync` (or,
    /// when the journal could not take it, for `guardianflow runs reap`).
    case leftOpen(journaled: Bool)

    /// "Run X is KILLED." or where its end waits.
    func sentence(_ runId: String, _ status: RunStatus) -> String {
        switch self {
        case .ended(let outcome):
            let missing = outcome.missing.keys.sorted()
            return "Run \(runId) is \(status.rawValue)."
                + (missing.isEmpty ? "" : " Not uploaded: \(missing.joined(separator: ", ")) (tagged guardianflow.missing_artifacts).")
        case .leftOpen(let journaled):
            return "Run \(runId) could not be ended \(status.rawValue) on MLflow now; "
                + (journaled
                    ? "its end waits in the journal: run `guardianflow sync` when the server answers."
                    : "run `guardianflow runs reap` when the server answers and the disk has room.")
        }
    }
}

import Foundation
import GuardianFlow

/// The training progress on stderr: one self-updating line on a terminal, plain lines elsewhere;
/// nothing with `--quiet` (or a log level above notice).
final class ProgressDisplay: @unchecked Sendable {
    private let lock = NSLock()
    private let live: Bool
    private let shown: Bool
    private var seenRun: String?
    private var seenMetrics: TrainingMetrics?

    /// The run the training created or resumed, once it exists, and its latest epoch's metrics:
    /// what `--json` reports when the training does not finish.
    var lastSeen: (runId: String?, metrics: TrainingMetrics?) { lock.withLock { (seenRun, seenMetrics) } }

    /// Progress goes to stderr, with and without --json (stdout stays the result's): a
    /// self-updating line on a terminal, plain lines elsewhere.
    init() {
        live = Console.stderrIsTerminal
        shown = StderrLogHandler.threshold <= .notice
    }

    func show(_ progress: TrainingProgress) {
        lock.withLock {
            switch progress.phase {
            case .starting(let runId, _):
                seenRun = runId
                say("Run \(runId) created; starting the trainer…")
            case .started(let device, let saveDir):
                say("Training on \(device), \(progress.epochs) epochs (files in \(saveDir)).")
            case .epoch(let metrics):
                seenMetrics = metrics
                let text = epochLine(progress, metrics)
                guard shown else { return }
                if live { Console.live(text) } else { Console.err(text) }
            case .finishing(let what):
                say("Finishing: \(what)…")
            }
        }
    }

    /// One line of its own (a live epoch line before it is ended first).
    private func say(_ text: String) {
        if shown { Console.err(text) }
    }

    private func epochLine(_ progress: TrainingProgress, _ metrics: TrainingMetrics) -> String {
        let width = 20
        let filled = progress.epochs > 0 ? min(width, width * progress.epoch / progress.epochs) : 0
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let map = metrics.mAP50_95.map { String(format: "%.4f", $0) } ?? "-"
        let eta = progress.eta.map(Self.clock) ?? "--:--"
        return "epoch \(progress.epoch)/\(progress.epochs) \(bar) elapsed \(Self.clock(progress.elapsed)) ETA \(eta) mAP50-95 \(map)"
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s % 3600 / 60, s % 60) : String(format: "%02d:%02d", s / 60, s % 60)
    }
}

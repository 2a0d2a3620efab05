import Foundation

/// Whether a version may replace the champion: its metric must not be worse than the
/// champion's by more than the margin. A first champion always passes.
public struct PromotionGate: Sendable, Equatable {
    /// A version tag or run metric, `best/mAP50_95` by default; higher is better.
    public var metric: String
    /// How much worse than the champion the candidate may be.
    public var margin: Double

    public init(metric: String = "best/mAP50_95", margin: Double = 0) {
        self.metric = metric
        self.margin = margin
    }

    public enum Verdict: Sendable, Equatable {
        case pass
        /// Not worse by more than the margin.
        case passBy(candidate: Double, champion: Double)
        case refuse(candidate: Double, champion: Double)
        /// The candidate has no value for the metric while the champion does.
        case missing(which: String)
    }

    public func judge(candidate: Double?, champion: Double?) -> Verdict {
        guard let champion else { return .pass }
        guard let candidate else { return .missing(which: "candidate") }
        return candidate + margin >= champion ? .passBy(candidate: candidate, champion: champion) : .refuse(candidate: candidate, champion: champion)
    }
}

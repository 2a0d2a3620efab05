import Foundation

/// Whether a version may replace the champion: its metric must not be worse than the
/// champion's by more than the margin. A first champion always passes; when either side has no
/// value for the metric, the gate refuses rather than guess.
public struct PromotionGate: Sendable, Equatable {
    /// A version tag or run metric, `best/mAP50_95` by default; higher is better.
    public var metric: String
    /// How much worse than the champion the candidate may be, in the metric's own units
    /// (0.01 = one point of mAP).
    public var margin: Double

    public init(metric: String = "best/mAP50_95", margin: Double = 0) {
        self.metric = metric
        self.margin = margin
    }

    public enum Verdict: Sendable, Equatable {
        /// There is no champion yet.
        case pass
        /// Not worse by more than the margin.
        case passBy(candidate: Double, champion: Double)
        case refuse(candidate: Double, champion: Double)
        /// The candidate or the champion has no value for the metric, so nothing can be compared.
        case missing(which: String)
    }

    /// - Parameters:
    ///   - candidate: the candidate's value of ``metric``, nil when it has none.
    ///   - champion: the champion's value, nil when it has none or there is no champion.
    ///   - hasChampion: whether there is a champion; only then may `champion` be nil and still pass.
    public func judge(candidate: Double?, champion: Double?, hasChampion: Bool) -> Verdict {
        guard hasChampion else { return .pass }
        guard let champion else { return .missing(which: "champion") }
        guard let candidate else { return .missing(which: "candidate") }
        return candidate + margin >= champion ? .passBy(candidate: candidate, champion: champion) : .refuse(candidate: candidate, champion: champion)
    }
}

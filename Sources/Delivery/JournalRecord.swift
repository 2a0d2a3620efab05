import Foundation
import MLflow

/// One line of a run's journal: what guardianflow means to send to MLflow, in order.
///
/// `batch` is a log-batch with its original timestamps and steps. `finish` and `end` carry what
/// ends the run (FINISHED with artifacts and the model version, or FAILED/KILLED), so that
/// `guardianflow sync` can do it for a process that is gone.
public struct JournalRecord: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case batch, finish, end
    }

    public var seq: Int
    public var kind: Kind
    public var metrics: [Metric]?
    public var params: [KeyValue]?
    public var tags: [KeyValue]?
    public var finish: FinishPlan?
    public var end: EndPlan?

    public static func batch(seq: Int, metrics: [Metric], params: [KeyValue], tags: [KeyValue]) -> JournalRecord {
        JournalRecord(seq: seq, kind: .batch, metrics: metrics, params: params, tags: tags)
    }

    /// The record of a planned FINISHED end.
    public static func finish(seq: Int, _ plan: FinishPlan) -> JournalRecord {
        JournalRecord(seq: seq, kind: .finish, finish: plan)
    }

    /// The record of a planned FAILED or KILLED end.
    public static func end(seq: Int, _ plan: EndPlan) -> JournalRecord {
        JournalRecord(seq: seq, kind: .end, end: plan)
    }
}

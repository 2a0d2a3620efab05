import Foundation

/// The tags of a submitted run, by which `jobs`, `cancel` and `runs reap` find it and its job.
public enum SchedulingTags {
    /// `slurm` or `local` (``TrainingExecutor/name``).
    public static let executor = "guardianflow.executor"
    public static let jobId = "guardianflow.job_id"
    public static let submittedAt = "guardianflow.submitted_at"
    /// The job's output file (the batch script's stdout and stderr).
    public static let jobOutput = "guardianflow.job_output"
    /// What the scheduler said when guardianflow ended the run for it (`runs reap`, `cancel`).
    public static let schedulerState = "guardianflow.scheduler_state"
    /// `time limit` when the job's time limit stopped the training; `cancelled` for `guardianflow cancel`.
    public static let endedBy = "guardianflow.ended_by"

    /// A tag's time, to the millisecond (ISO 8601, UTC).
    public static func timestamp(_ date: Date = Date()) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// A time written by ``timestamp(_:)`` (or without its fraction).
    public static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}

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
}

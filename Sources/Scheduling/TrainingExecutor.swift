import Foundation

/// Where a submitted training runs: the seam between `submit`, `jobs`, `cancel` and `runs reap`
/// and a scheduler. ``SlurmExecutor`` queues it on a cluster; ``LocalExecutor`` runs it in the
/// background on this machine. Both run the same command, `guardianflow train --attach RUN_ID …`,
/// which takes the SCHEDULED run over and trains as `train` does (ARCHITECTURE.md sketches a
/// Kubernetes Job executor behind the same seam).
public protocol TrainingExecutor: Sendable {
    /// `slurm` or `local`: the run's `guardianflow.executor` tag.
    var name: String { get }
    /// Whether the scheduler can be used from here, checked before a run is created.
    ///
    /// - Throws: ``GuardianFlowError/unavailable(_:)`` (69), naming what is missing.
    func checkAvailable() throws
    /// Queues the command; returns the job's id.
    ///
    /// - Throws: ``GuardianFlowError/unavailable(_:)`` (69) when the scheduler is not there;
    ///   ``GuardianFlowError/invalidInput(_:)`` (65) with the scheduler's own message when it refuses the request.
    func submit(_ submission: JobSubmission) async throws -> String
    /// What the scheduler says of each job; a job it no longer knows is absent.
    func status(of jobIds: [String]) async throws -> [String: JobStatus]
    /// Asks the scheduler to stop the job: SIGTERM for a running one (the training then ends
    /// KILLED with last.pt uploaded), gone at once for a queued one.
    func cancel(_ jobId: String) async throws
}

/// One training to queue.
public struct JobSubmission: Sendable {
    public var runId: String
    public var runName: String
    /// The command the job runs (`guardianflow train --attach RUN_ID …`), absolute paths only.
    public var command: [String]
    public var resources: SlurmResources
    /// Where the batch script and the job's output go (`<work dir>/jobs`).
    public var directory: String

    public init(runId: String, runName: String, command: [String], resources: SlurmResources, directory: String) {
        self.runId = runId
        self.runName = runName
        self.command = command
        self.resources = resources
        self.directory = directory
    }

    /// The batch script: the command, run with `exec` so that Slurm's signals reach guardianflow itself.
    public var script: String {
        """
        #!/bin/bash
        # guardianflow: the training of MLflow run \(runId) (\(runName)), submitted by `guardianflow submit`.
        # The environment is the submitting shell's (sbatch --export=ALL): no secret is written here.
        export GUARDIANFLOW_JOB_SIGNAL_LEAD=\(resources.signalLeadSeconds)
        exec \(command.map(Self.shellQuoted).joined(separator: " "))

        """
    }

    static func shellQuoted(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

import MLflow

/// What an import did with one run folder.
public struct ImportResult: Sendable {
    public enum Outcome: String, Sendable, Codable, CaseIterable {
        /// A new run.
        case created
        /// An imported run that had grown: its new epochs appended, its status, end and files updated.
        case appended
        /// A run of the same origin whose rows no longer match (rewritten, or left partial by an
        /// interrupted import): deleted and imported again.
        case replaced
        /// Imported before, and nothing changed: nothing written.
        case unchanged
        /// Its files could not be read: reported, nothing written.
        case skipped
        /// Imported before and unchanged, but its files, status or model version were brought up to date.
        case updated
        /// The import failed at the server or the store (the run is marked partial).
        case failed
    }

    public var path: String
    public var outcome: Outcome
    public var runId: String?
    public var status: RunStatus?
    /// Epochs written by this import.
    public var epochsWritten: Int = 0
    public var model: (name: String, version: String)?
    /// Why it was skipped, replaced or failed.
    public var detail: String?
    /// A failure's exit code (``GuardianFlowError/exitCode``).
    public var exitCode: Int32?

    public init(path: String, outcome: Outcome, runId: String? = nil, status: RunStatus? = nil, detail: String? = nil) {
        self.path = path
        self.outcome = outcome
        self.runId = runId
        self.status = status
        self.detail = detail
    }
}

/// The tags an imported run carries, by which a later import knows it.
public enum ImportTags {
    /// Where the run came from, whatever its folder's path today (``ImportedRun/origin``).
    public static let origin = "guardianflow.import.origin"
    /// What it held when it was imported (``ImportedRun/content``).
    public static let content = "guardianflow.import.content"
    /// `partial` while an import writes it, `complete` after: a partial run is replaced by the next import.
    public static let state = "guardianflow.import.state"
    /// The rows of results.csv it holds, the SHA-256 of those rows, and the first one imported
    /// (rows before it are an earlier training in the same folder): what an import of a grown
    /// folder appends after.
    public static let rows = "guardianflow.import.rows"
    public static let rowsDigest = "guardianflow.import.rows_sha256"
    public static let firstRow = "guardianflow.import.first_row"
    /// The folder it was last imported from, its format, and when.
    public static let path = "guardianflow.import.path"
    public static let format = "guardianflow.import.format"
    public static let importedAt = "guardianflow.import.imported_at"
    /// Where its start, end and epoch times came from (``RunTimeline/sourceTag``).
    public static let times = "guardianflow.import.times"
    /// Why it is FINISHED or KILLED.
    public static let statusReason = "guardianflow.import.status_reason"
}

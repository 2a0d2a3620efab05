/// Facts about this build of guardianflow.
public enum GuardianFlowInfo {
    /// The version, recorded on every run as the tag `guardianflow.version`.
    public static let version = "0.1.0"
}

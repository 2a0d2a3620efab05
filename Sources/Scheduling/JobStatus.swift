import Foundation

/// What the scheduler says of one job, in Slurm's words (`scontrol show job -o`): its state, why, and when.
public struct JobStatus: Sendable, Equatable {
    public var id: String
    /// PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, CANCELLED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, …
    public var state: String
    public var reason: String?
    public var submitTime: Date?
    public var startTime: Date?
    public var endTime: Date?
    public var fields: [String: String]

    /// Parses one line of `scontrol show job -o`: `Key=Value` pairs separated by spaces.
    public init?(scontrolLine line: String) {
        var fields: [String: String] = [:]
        for token in line.split(separator: " ") {
            guard let equals = token.firstIndex(of: "=") else { continue }
            fields[String(token[..<equals])] = String(token[token.index(after: equals)...])
        }
        guard let id = fields["JobId"], let state = fields["JobState"] else { return nil }
        self.id = id
        self.state = state
        self.reason = fields["Reason"].flatMap { $0 == "None" ? nil : $0 }
        self.fields = fields
        submitTime = fields["SubmitTime"].flatMap(Self.date)
        startTime = fields["StartTime"].flatMap(Self.date)
        endTime = fields["EndTime"].flatMap(Self.date)
    }

    public init(id: String, state: String) {
        self.id = id
        self.state = state
        self.fields = [:]
    }

    /// Queued or running: its run may still be in the job's hands.
    public var isActive: Bool {
        [
            "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING",
            "SIGNALING",
            "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD",
        ].contains(state)
    }

    /// Slurm's dates are local time without an offset (`2026-11-30T19:35:41`); `Unknown` and `None` are nil.
    static func date(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = .current
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        return formatter.date(from: text)
    }
}

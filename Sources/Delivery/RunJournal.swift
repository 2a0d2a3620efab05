import Foundation
import Glibc
import GuardianFlowCore
import MLflow

/// A run's write-ahead journal in the work dir: `journal/<run_id>.jsonl`, one ``JournalRecord``
/// per line, each appended and fsync'ed before it is sent; `journal/<run_id>.delivered` holds how
/// many records MLflow has taken (replaced atomically after each delivery).
///
/// A crash mid-append leaves at most a partial last line, which reading ignores. Delivery is at
/// least once; MLflow stores a metric point (key, step, timestamp, value) sent twice once, so a
/// replay never duplicates one.
public final class RunJournal: @unchecked Sendable {
    public let runId: String
    public let path: String
    let deliveredPath: String
    let lock = NSLock()
    var records: [JournalRecord]
    var deliveredCount: Int

    /// The journal directory of a work dir.
    public static func directory(workDir: String) -> String {
        (workDir as NSString).appendingPathComponent("journal")
    }

    /// What to do about a disk that refused a journal write.
    static let diskHint =
        "Free space on that disk or make it writable (or point GUARDIANFLOW_WORK_DIR elsewhere), then run `guardianflow sync`."

    /// Opens (or starts) the journal of a run.
    public init(workDir: String, runId: String) throws {
        let directory = Self.directory(workDir: workDir)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.runId = runId
        self.path = "\(directory)/\(runId).jsonl"
        self.deliveredPath = "\(directory)/\(runId).delivered"
        self.records = Self.read(path)
        let marker = (try? String(contentsOfFile: deliveredPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        self.deliveredCount = min(Int(marker ?? "") ?? 0, records.count)
    }

    /// The run ids with a journal in this work dir.
    public static func runIds(workDir: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory(workDir: workDir))) ?? []
        return names.filter { $0.hasSuffix(".jsonl") }.map { String($0.dropLast(6)) }.sorted()
    }

    static func read(_ path: String) -> [JournalRecord] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let decoder = JSONDecoder()
        var out: [JournalRecord] = []
        for line in data.split(separator: UInt8(ascii: "\n")) {
            // A line cut short by a crash is the last one; it was never sent.
            guard let record = try? decoder.decode(JournalRecord.self, from: Data(line)) else { break }
            out.append(record)
        }
        return out
    }

    /// Appends a record durably (written and fsync'ed) and returns it with its sequence number.
    @discardableResult
    public func append(_ make: (Int) -> JournalRecord) throws -> JournalRecord {
        try lock.withLock {
            let record = make(records.count)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var line = try encoder.encode(record)
            line.append(UInt8(ascii: "\n"))
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw GuardianFlowError.io("Cannot write the run's journal \(path): \(String(cString: strerror(errno))). \(Self.diskHint)")
            }
            defer { close(fd) }
            // A write cut short (a full disk) is taken back, so the next append does not follow a
            // partial line, which reading would stop at.
            let end = lseek(fd, 0, SEEK_END)
            let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == line.count, fsync(fd) == 0 else {
                let reason = errno
                if end >= 0 { _ = ftruncate(fd, end) }
                errno = reason
                throw GuardianFlowError.io("Cannot write the run's journal \(path): \(String(cString: strerror(errno))). \(Self.diskHint)")
            }
            records.append(record)
            return record
        }
    }

    /// The records MLflow has not taken yet, in order.
    public var pending: [JournalRecord] {
        lock.withLock { Array(records[deliveredCount...]) }
    }

    public var pendingCount: Int {
        lock.withLock { records.count - deliveredCount }
    }

    /// Every record, delivered or not.
    public var all: [JournalRecord] {
        lock.withLock { records }
    }

    /// Records that records up to `seq` (inclusive) were delivered.
    public func markDelivered(through seq: Int) throws {
        try lock.withLock {
            let count = min(seq + 1, records.count)
            guard count > deliveredCount else { return }
            let temporary = deliveredPath + ".tmp"
            do {
                try String(count).write(toFile: temporary, atomically: false, encoding: .utf8)
            } catch {
                throw GuardianFlowError.io("Cannot write \(temporary): \(error.localizedDescription). \(Self.diskHint)")
            }
            guard rename(temporary, deliveredPath) == 0 else {
                throw GuardianFlowError.io("Cannot write \(deliveredPath): \(String(cString: strerror(errno))). \(Self.diskHint)")
            }
            deliveredCount = count
        }
    }

    /// Removes the journal once everything in it was delivered and the run has ended.
    public func remove() {
        lock.withLock {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: deliveredPath)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The machine's and a process group's CPU and memory, read from /proc (Linux).
///
/// CPU figures are cumulative counters; ``SystemSampler`` turns two readings into a percentage.
public struct ProcFS: Sendable {
    public var root: String

    public init(root: String = "/proc") {
        self.root = root
    }

    /// Jiffies since boot over all CPUs: all of them, and those spent idle (idle + iowait).
    public struct CPUTimes: Sendable, Equatable {
        public var total: UInt64
        public var idle: UInt64
    }

    /// The machine's memory in bytes.
    public struct Memory: Sendable, Equatable {
        public var totalBytes: UInt64
        public var availableBytes: UInt64
        public var usedBytes: UInt64 { totalBytes > availableBytes ? totalBytes - availableBytes : 0 }
    }

    /// A process group's usage: CPU time (user + system, in clock ticks) and resident memory.
    public struct GroupUsage: Sendable, Equatable {
        public var pids: Set<Int32>
        public var cpuTicks: UInt64
        public var residentBytes: UInt64

        mutating func add(_ pid: Int32, _ stat: Stat) {
            pids.insert(pid)
            cpuTicks += stat.utime + stat.stime
            residentBytes += stat.rssPages * ProcFS.pageSize
        }
    }

    /// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
    public static let ticksPerSecond: Double = Double(sysconf(Int32(_SC_CLK_TCK)))
    static let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))

    /// The first line of /proc/stat: `cpu user nice system idle iowait irq softirq steal guest guest_nice`.
    public func cpuTimes() -> CPUTimes? {
        guard let text = read("stat"), let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let fields = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard fields.count >= 5 else { return nil }
        // guest time is already counted in user time.
        let total = fields.prefix(8).reduce(0, +)
        return CPUTimes(total: total, idle: fields[3] + fields[4])
    }

    /// MemTotal and MemAvailable from /proc/meminfo.
    public func memory() -> Memory? {
        guard let text = read("meminfo") else { return nil }
        var total: UInt64?
        var available: UInt64?
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count >= 2, let kib = UInt64(parts[1]) else { continue }
            if parts[0] == "MemTotal:" { total = kib * 1024 }
            if parts[0] == "MemAvailable:" { available = kib * 1024 }
            if total != nil, available != nil { break }
        }
        guard let total, let available else { return nil }
        return Memory(totalBytes: total, availableBytes: available)
    }

    /// The trainer's processes: every process whose process group is `pgid` (the trainer and the
    /// dataloader workers it forks), and every process descended from one of them in another
    /// group (torch.distributed.run starts each multi-GPU worker in a session of its own).
    public func group(_ pgid: Int32) -> GroupUsage {
        var usage = GroupUsage(pids: [], cpuTicks: 0, residentBytes: 0)
        var others: [(pid: Int32, stat: Stat)] = []
        forEachProcess { pid, stat in
            guard stat.pgrp == pgid else {
                others.append((pid, stat))
                return
            }
            usage.add(pid, stat)
        }
        // Descendants: whoever's parent is already in, until no one is added.
        var added = true
        while added, !usage.pids.isEmpty {
            added = false
            others.removeAll { process in
                guard usage.pids.contains(process.stat.ppid) else { return false }
                usage.add(process.pid, process.stat)
                added = true
                return true
            }
        }
        return usage
    }

    /// The processes of group `pgid` that have not exited: zombies (exited, not yet reaped) left out.
    public func runningMembers(of pgid: Int32) -> Set<Int32> {
        var pids: Set<Int32> = []
        forEachProcess { pid, stat in
            if stat.pgrp == pgid, stat.state != "Z", stat.state != "X" { pids.insert(pid) }
        }
        return pids
    }

    /// Whether any process of group `pgid` still runs. Zombies do not count: they have exited and
    /// only wait for their parent (init, for a server whose starter is gone) to reap them, which
    /// a container's init may never do.
    public func groupIsRunning(_ pgid: Int32) -> Bool {
        guard kill(-pgid, 0) == 0 || errno == EPERM else { return false }
        return !runningMembers(of: pgid).isEmpty
    }

    /// Waits, polling every `interval`, until no process of group `pgid` runs, at most `timeout`.
    ///
    /// - Returns: whether the group is gone.
    @discardableResult
    public func waitUntilGroupEnds(_ pgid: Int32, timeout: Duration, interval: Duration = .milliseconds(50)) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while groupIsRunning(pgid) {
            guard clock.now < deadline else { return false }
            try? await Task.sleep(for: interval)
        }
        return true
    }

    /// Calls `body` with every process's pid and stat.
    private func forEachProcess(_ body: (Int32, Stat) -> Void) {
        guard let directory = opendir(root) else { return }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let pid = Int32(name), let stat = Self.parseStat(read("\(name)/stat")) else { continue }
            body(pid, stat)
        }
    }

    /// What /proc/PID/stat says of one process.
    package struct Stat: Equatable {
        /// `R`, `S`, `Z` for a zombie nobody reaped yet, …
        package var state: Character
        var ppid: Int32
        var pgrp: Int32
        var utime: UInt64
        var stime: UInt64
        /// When the process started, in clock ticks after boot.
        package var startTime: UInt64
        var rssPages: UInt64
    }

    /// One process's /proc/PID/stat, or nil when there is no such process.
    package func stat(_ pid: Int32) -> Stat? {
        Self.parseStat(read("\(pid)/stat"))
    }

    /// Parses /proc/PID/stat. The command name (field 2) may hold spaces and parentheses, so
    /// fields are counted from the last `)`: state is field 3, ppid 4, pgrp 5, utime 14, stime 15,
    /// starttime 22, rss 24.
    static func parseStat(_ text: String?) -> Stat? {
        guard let text, let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 21, let state = fields[0].first, let ppid = Int32(fields[1]), let pgrp = Int32(fields[2]),
            let utime = UInt64(fields[11]),
            let stime = UInt64(fields[12]), let startTime = UInt64(fields[19]), let rss = Int64(fields[21])
        else { return nil }
        return Stat(state: state, ppid: ppid, pgrp: pgrp, utime: utime, stime: stime, startTime: startTime, rssPages: UInt64(max(0, rss)))
    }

    /// ``parseStat(_:)`` for tests: the process group, CPU ticks (user + system) and resident pages.
    public static func parseStatForTesting(_ text: String) -> (pgrp: Int32, ticks: UInt64, rssPages: UInt64)? {
        parseStat(text).map { ($0.pgrp, $0.utime + $0.stime, $0.rssPages) }
    }

    /// Reads a small /proc file in one go (they are generated on read; no FileManager overhead).
    func read(_ relative: String) -> String? {
        let fd = open("\(root)/\(relative)", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        var length = 0
        while true {
            if length == bytes.count { bytes.append(contentsOf: repeatElement(0, count: bytes.count)) }
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + length, $0.count - length) }
            if n <= 0 { break }
            length += n
        }
        return String(decoding: bytes[..<length], as: UTF8.self)
    }
}

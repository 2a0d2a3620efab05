import Foundation
import GuardianFlowCore
import Logging
import MLflow

/// A run's live logging that loses nothing when MLflow stops answering.
///
/// Every batch goes to the run's journal first (written and fsync'ed), and one sender delivers
/// the journal in order. While the server does not answer, training goes on and batches pile
/// up in the journal; the sender keeps probing with backoff and, when the server is back, replays
/// them with their original timestamps and steps, coalesced into as few log-batch requests as
/// the server's limits allow. A batch the server refuses outright (a 4xx other than 408/429) is
/// skipped with a warning, so one bad value cannot hold back the rest.
public final class RunLogger: @unchecked Sendable {
    public let journal: RunJournal
    let client: MLflowClient
    let logger: Logger
    let lock = NSLock()
    var sender: Task<Void, Never>?
    var wake: AsyncStream<Void>.Continuation?
    var outageStarted: ContinuousClock.Instant?
    var outageRecords = 0
    /// Batches the server refused, with why.
    public private(set) var rejected: [(seq: Int, error: String)] = []
    /// Batches the journal could not take (a full or read-only disk), in order after the
    /// journal's: the same sender delivers them, from memory.
    var unjournaled: [JournalRecord] = []
    var journalError: GuardianFlowError?

    /// The longest the sender waits between probes of a server that does not answer.
    let maxBackoff: Duration

    /// - Parameters:
    ///   - client: used with a short retry budget; the sender's own backoff rides out longer outages.
    ///   - logger: says when MLflow stops and starts answering, and what it refused.
    ///   - maxBackoff: the longest wait between two probes of a server that does not answer.
    public init(
        journal: RunJournal, client: MLflowClient, logger: Logger = GuardianFlowLogging.logger("delivery"),
        maxBackoff: Duration = .seconds(5)
    ) {
        self.journal = journal
        self.client = client.with(retry: .interactive)
        self.logger = logger
        self.maxBackoff = maxBackoff
    }

    /// Starts the sender; what the journal holds from an earlier process goes first.
    public func start() {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        lock.withLock {
            wake = continuation
            sender = Task.detached { [self] in
                for await _ in stream {
                    await deliverPending()
                }
            }
        }
        continuation.yield()
    }

    /// Journals a batch and has the sender deliver it. Never waits for the server.
    ///
    /// When the disk refuses the journal, the batch (and every later one, so that order holds)
    /// is kept in memory for the same sender, and ``journalError`` says why: the caller decides
    /// whether the training can go on without its safety net.
    public func log(metrics: [Metric] = [], params: [KeyValue] = [], tags: [KeyValue] = []) {
        guard !(metrics.isEmpty && params.isEmpty && tags.isEmpty) else { return }
        let journaling = lock.withLock { journalError == nil }
        if journaling {
            do {
                try journal.append { .batch(seq: $0, metrics: metrics, params: params, tags: tags) }
                _ = lock.withLock { wake?.yield() }
                return
            } catch {
                let wrapped = GuardianFlowError.wrap(error)
                lock.withLock { journalError = wrapped }
                logger.error("\(wrapped.description) Until then, what the run logs is kept in memory only.")
            }
        }
        lock.withLock {
            unjournaled.append(.batch(seq: -1, metrics: metrics, params: params, tags: tags))
            _ = wake?.yield()
        }
    }

    /// Why the journal stopped taking batches (a full or read-only disk), if it did.
    public var diskError: GuardianFlowError? { lock.withLock { journalError } }

    /// Waits until every journaled batch was delivered, or `timeout` passed.
    ///
    /// - Returns: true when the journal has no undelivered batch.
    /// - Parameter giveUp: checked while waiting; true stops the wait (a Ctrl-C).
    public func drain(timeout: Duration, giveUp: @Sendable () -> Bool = { false }) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            if pendingBatches.isEmpty { return true }
            if ContinuousClock.now >= deadline || Task.isCancelled || giveUp() { return false }
            _ = lock.withLock { wake?.yield() }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Stops the sender; what it did not deliver stays in the journal.
    public func stop() async {
        let task: Task<Void, Never>? = lock.withLock {
            wake?.finish()
            wake = nil
            return sender
        }
        task?.cancel()
        await task?.value
    }

    /// Whether the sender is waiting for an unanswering server.
    public var inOutage: Bool { lock.withLock { outageStarted != nil } }

    /// The undelivered batch records at the head of the journal (a finish or end record stops
    /// the sender: those are carried out by whoever ends the run).
    var pendingBatches: [JournalRecord] {
        let journaled = journal.pending
        let batches = journaled.prefix { $0.kind == .batch }
        guard batches.count == journaled.count else { return Array(batches) }
        return Array(batches) + lock.withLock { unjournaled }
    }

    /// Records that MLflow took `records`: the journal's by their sequence number, the ones
    /// kept in memory by dropping them.
    func markDelivered(_ records: [JournalRecord]) {
        if let last = records.last(where: { $0.seq >= 0 }) { try? journal.markDelivered(through: last.seq) }
        let fromMemory = records.filter { $0.seq < 0 }.count
        if fromMemory > 0 { lock.withLock { unjournaled.removeFirst(min(fromMemory, unjournaled.count)) } }
    }

    func deliverPending() async {
        var backoff: Duration = .milliseconds(250)
        var delivered = 0
        while !Task.isCancelled {
            // The next group of whole records that fits one log-batch request: once MLflow has
            // taken it, it is marked delivered, so a failure later never sends it again.
            guard let records = Self.nextGroup(pendingBatches) else {
                if delivered > 0 { endOutage(delivered: delivered) }
                return
            }
            let merged = Self.coalesce(records)
            do {
                try await client.logBatch(runId: journal.runId, metrics: merged.metrics, params: merged.params, tags: merged.tags)
                markDelivered(records)
                logger.debug(
                    "Delivered \(records.count) journal record(s) of run \(journal.runId) in one log-batch (\(merged.metrics.count) metrics, \(merged.params.count) params, \(merged.tags.count) tags).")
                delivered += records.count
                backoff = .milliseconds(250)
            } catch where Self.isRefusal(error) {
                // Refused as a whole: find the record(s) at fault one by one, skip those.
                await deliverOneByOne(records)
            } catch {
                // No answer, 5xx, cancelled: nothing is marked delivered; try again (unless stopping).
                if Task.isCancelled { return }
                beginOutage(error)
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, maxBackoff)
            }
        }
    }

    /// The longest prefix of `records` whose metrics, params and tags fit one log-batch request
    /// (MLflow's limits: 1000 metrics, 100 params, 100 tags); at least one record.
    static func nextGroup(_ records: [JournalRecord]) -> [JournalRecord]? {
        guard let first = records.first else { return nil }
        let limits = LogBatchLimits()
        var metrics = 0
        var params = 0
        var tags = 0
        var count = 0
        for record in records {
            metrics += record.metrics?.count ?? 0
            params += record.params?.count ?? 0
            tags += record.tags?.count ?? 0
            if count > 0, metrics > limits.maxMetrics || params > limits.maxParams || tags > limits.maxTags { break }
            count += 1
        }
        return count == 0 ? [first] : Array(records.prefix(count))
    }

    func deliverOneByOne(_ records: [JournalRecord]) async {
        for record in records {
            do {
                try await client.logBatch(
                    runId: journal.runId, metrics: record.metrics ?? [], params: record.params ?? [], tags: record.tags ?? [])
            } catch where Self.isRefusal(error) {
                lock.withLock { rejected.append((record.seq, "\(error)")) }
                logger.warning("MLflow refused journal record \(record.seq) of run \(journal.runId) (\(error)); it is skipped and stays in \(journal.path).")
            } catch {
                return  // the outage path takes over on the next round
            }
            markDelivered([record])
        }
    }

    func beginOutage(_ error: any Error) {
        let first: Bool = lock.withLock {
            guard outageStarted == nil else { return false }
            outageStarted = .now
            return true
        }
        if first {
            logger.warning(
                "MLflow is not answering (\(Self.short(error))); training goes on, and what it logs waits in the journal \(journal.path) until the server is back."
            )
        }
    }

    func endOutage(delivered: Int) {
        let started: ContinuousClock.Instant? = lock.withLock {
            defer { outageStarted = nil }
            return outageStarted
        }
        if let started {
            let seconds = Int((ContinuousClock.now - started).components.seconds)
            logger.notice("MLflow answers again after \(seconds) s; \(delivered) journaled batch(es) delivered.")
        }
    }

    /// Whether the server refused the batch itself (a 4xx other than 408/429, or an argument the
    /// client cannot send): sending it again cannot help. Anything else (no answer, 5xx, refused
    /// credentials, a cancelled request) may pass later, so nothing is skipped for it.
    static func isRefusal(_ error: any Error) -> Bool {
        switch error as? MLflowError {
        case .api(_, let status, _, _)?:
            return (400..<500).contains(status) && !RetryPolicy.isRetryable(status: status)
        case .invalidArgument?:
            return true
        default:
            return false
        }
    }

    static func short(_ error: any Error) -> String {
        if case .unreachable(_, let detail, _)? = error as? MLflowError { return detail }
        return "\(error)"
    }

    /// Records merged in order into one batch: metrics all kept (their steps and timestamps
    /// tell them apart), a param's first value (as MLflow and ``LogBatchPlanner`` keep it), a
    /// tag's last value.
    static func coalesce(_ records: [JournalRecord]) -> (metrics: [Metric], params: [KeyValue], tags: [KeyValue]) {
        var metrics: [Metric] = []
        var params: [KeyValue] = []
        var seenParams: Set<String> = []
        var tagIndex: [String: Int] = [:]
        var tags: [KeyValue] = []
        for record in records {
            metrics += record.metrics ?? []
            for param in record.params ?? [] where seenParams.insert(param.key).inserted { params.append(param) }
            for tag in record.tags ?? [] {
                if let i = tagIndex[tag.key] {
                    tags[i] = tag
                } else {
                    tagIndex[tag.key] = tags.count
                    tags.append(tag)
                }
            }
        }
        return (metrics, params, tags)
    }
}

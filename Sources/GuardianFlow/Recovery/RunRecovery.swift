import Foundation
import MLflow

/// Finishes what dead guardianflow processes left in a work dir: journals not yet delivered
/// (`guardianflow sync`) and runs left RUNNING by a process that is gone (`guardianflow runs reap`,
/// and every `train` before it starts).
///
/// A run is only touched when the process that held its lease is gone (its pid, start time and
/// boot checked) and the lease names the tracking server this client talks to.
public struct RunRecovery: Sendable {
    public let settings: Settings
    public let client: MLflowClient
    public var notice: @Sendable (String) -> Void
    /// How long to wait for an unanswering server while delivering one journal.
    public var patience: Duration = .seconds(20)

    public init(settings: Settings, client: MLflowClient, notice: @escaping @Sendable (String) -> Void = { _ in }) {
        self.settings = settings
        self.client = client
        self.notice = notice
    }

    /// What happened to one run.
    public struct Outcome: Sendable, Equatable, Encodable {
        public enum Action: String, Sendable, Encodable {
            /// Its journal was delivered and its end (FINISHED with a model version, FAILED or KILLED) done.
            case finished, ended
            /// Its journal was delivered; the run is still RUNNING (`runs reap` ends it).
            case delivered
            /// Ended KILLED: its process died without ending it.
            case reaped
            /// Left alone: its process still runs, it belongs to another server or machine, or MLflow did not answer.
            case skipped
        }
        public var runId: String
        public var action: Action
        public var batchesDelivered: Int
        public var detail: String
        /// How long delivering its journal took.
        public var seconds: Double = 0
    }

    /// Delivers the journals of dead processes and, with `reap`, ends their RUNNING runs KILLED.
    public func recover(reap: Bool) async -> [Outcome] {
        let workDir = settings.workDir
        let leases = Dictionary(RunLease.all(workDir: workDir).map { ($0.runId, $0) }) { a, _ in a }
        let runIds = Set(RunJournal.runIds(workDir: workDir)).union(leases.keys).sorted()
        var outcomes: [Outcome] = []
        for runId in runIds {
            let outcome = await recover(runId: runId, lease: leases[runId], reap: reap)
            if let outcome { outcomes.append(outcome) }
        }
        return outcomes
    }

    func recover(runId: String, lease: RunLease?, reap: Bool) async -> Outcome? {
        var batches = 0
        var seconds = 0.0
        func outcome(_ action: Outcome.Action, _ detail: String) -> Outcome {
            Outcome(runId: runId, action: action, batchesDelivered: batches, detail: detail, seconds: seconds)
        }
        let here = TrackingURI.redact(client.trackingURI.baseURL)
        if let lease {
            if lease.isForeign {
                return outcome(.skipped, "held by a process on \(lease.host)")
            }
            if lease.holderIsAlive { return nil }  // a training in progress: not ours to touch
            if lease.trackingURI != here {
                return outcome(.skipped, "its run is on \(lease.trackingURI), not \(here); run this with --tracking-uri \(lease.trackingURI)")
            }
        }
        let run: Run
        do {
            run = try await client.getRun(id: runId)
        } catch let error as MLflowError where error.isNotFound || error.errorCode == "INVALID_PARAMETER_VALUE" {
            return outcome(.skipped, "no such run on \(here)")
        } catch {
            return outcome(.skipped, "MLflow did not answer: \(error)")
        }
        guard let journal = try? RunJournal(workDir: settings.workDir, runId: runId) else {
            return outcome(.skipped, "its journal cannot be read")
        }
        // 1. The batches, in order.
        let before = journal.pendingCount
        let logger = RunLogger(journal: journal, client: client, notice: notice)
        let clock = ContinuousClock()
        let started = clock.now
        logger.start()
        let delivered = await logger.drain(timeout: patience)
        let elapsed = clock.now - started
        await logger.stop()
        batches = before - journal.pendingCount
        seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        guard delivered else {
            return outcome(.skipped, "MLflow did not take the journal within \(patience.components.seconds) s; \(journal.pendingCount) record(s) wait in \(journal.path)")
        }
        // 2. The end the dead process had planned, if it got that far.
        let finisher = RunFinisher(client: client, artifactURI: run.info.artifactURI, settings: settings)
        if let record = journal.pending.first {
            do {
                if let plan = record.finish {
                    if run.info.status == .running || run.info.status == .scheduled {
                        let (model, _) = try await finisher.finish(plan)
                        try? journal.markDelivered(through: record.seq)
                        release(runId, journal)
                        return outcome(.finished, "FINISHED; registered \(model.name) version \(model.version) as @\(model.alias ?? "-")")
                    }
                } else if let plan = record.end {
                    if run.info.status == .running || run.info.status == .scheduled { try await finisher.end(plan) }
                    try? journal.markDelivered(through: record.seq)
                    release(runId, journal)
                    return outcome(.ended, "ended \(plan.status)")
                }
            } catch {
                return outcome(.skipped, "could not end it: \(error)")
            }
        }
        // 3. No end planned: the process died mid-training.
        guard run.info.status == .running || run.info.status == .scheduled else {
            release(runId, journal)
            return outcome(.delivered, "already \(run.info.status.rawValue)")
        }
        guard reap else {
            return outcome(.delivered, "still RUNNING, its process is gone; `guardianflow runs reap` ends it KILLED")
        }
        let holder = lease.map { "pid \($0.pid) on \($0.host), lease from \($0.createdAt)" } ?? "no lease"
        let plan = EndPlan(
            runId: runId, artifactURI: run.info.artifactURI, status: RunStatus.killed.rawValue,
            tags: [
                KeyValue(key: "guardianflow.reaped", value: "true"),
                KeyValue(key: "guardianflow.reaped_at", value: Date().formatted(.iso8601)),
                KeyValue(key: "guardianflow.reaped_by", value: "\(ProcessInfo.processInfo.hostName) pid \(getpid())"),
                KeyValue(key: "guardianflow.error.kind", value: "killed"),
                KeyValue(
                    key: "guardianflow.error.message",
                    value: "the guardianflow process that ran it (\(holder)) ended without ending the run; reaped"),
            ],
            uploads: [
                (settings.workDir as NSString).appendingPathComponent("runs/\(runId).log"): "logs/train.log",
                (settings.workDir as NSString).appendingPathComponent("runs/\(runId)/weights/last.pt"): "weights/last.pt",
            ],
            endTime: mlflowTimestamp())
        do {
            try await finisher.end(plan)
        } catch {
            return outcome(.skipped, "could not end it: \(error)")
        }
        release(runId, journal)
        return outcome(.reaped, "KILLED (its process, \(holder), is gone)")
    }

    func release(_ runId: String, _ journal: RunJournal) {
        journal.remove()
        RunLease.release(workDir: settings.workDir, runId: runId)
    }
}

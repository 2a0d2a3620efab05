import Config
import Foundation
import GuardianFlowCore
import Logging
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
    /// Says what was recovered, and why a run was left alone.
    public var logger: Logger
    /// How long to wait for an unanswering server while delivering one journal.
    public var patience: Duration = .seconds(20)

    public init(settings: Settings, client: MLflowClient, logger: Logger = GuardianFlowLogging.logger("delivery")) {
        self.settings = settings
        self.client = client
        self.logger = logger
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
        /// The exit code of what stopped it, for a run left alone because something here must
        /// change first (S3 settings missing: 65; credentials refused: 77; MLflow away: 69).
        public var exitCode: Int32?

        public init(runId: String, action: Action, batchesDelivered: Int = 0, detail: String, seconds: Double = 0, exitCode: Int32? = nil) {
            self.runId = runId
            self.action = action
            self.batchesDelivered = batchesDelivered
            self.detail = detail
            self.seconds = seconds
            self.exitCode = exitCode
        }
    }

    /// Delivers the journals of dead processes and, with `reap`, ends their RUNNING runs KILLED.
    public func recover(reap: Bool) async -> [Outcome] {
        let workDir = settings.workDir
        let all = RunLease.all(workDir: workDir)
        let leases = Dictionary(all.filter { !$0.isPending }.map { ($0.runId, $0) }) { a, _ in a }
        let runIds = Set(RunJournal.runIds(workDir: workDir)).union(leases.keys).sorted()
        var outcomes: [Outcome] = []
        for runId in runIds {
            let outcome = await recover(runId: runId, lease: leases[runId], reap: reap)
            if let outcome {
                logger.debug("Run \(runId): \(outcome.action.rawValue), \(outcome.detail).")
                outcomes.append(outcome)
            }
        }
        for pending in all where pending.isPending {
            if let outcome = await recover(pending: pending, known: Set(runIds), reap: reap) { outcomes.append(outcome) }
        }
        return outcomes
    }

    /// A lease taken before its run was created, whose holder is gone: the run it may have
    /// created (found by its create token) is recovered like any other, then the lease goes.
    func recover(pending: RunLease, known: Set<String>, reap: Bool) async -> Outcome? {
        guard !pending.isForeign, !pending.holderIsAlive, let token = pending.createToken,
            pending.trackingURI == TrackingURI.redact(client.trackingURI.baseURL)
        else { return nil }
        let found: RunInfo?
        do {
            found = try await client.findRun(experimentId: pending.experimentId, createToken: token)
        } catch {
            return nil  // asked again at the next recovery
        }
        guard let run = found, !known.contains(run.runId) else {
            pending.release(workDir: settings.workDir)  // no run was made, or it has a journal or lease of its own
            return nil
        }
        var lease = pending
        lease.runId = run.runId
        lease.artifactURI = run.artifactURI
        let outcome = await recover(runId: run.runId, lease: lease, reap: reap)
        // Kept while the run may still need ending: `sync` delivers, `runs reap` ends.
        if let action = outcome?.action, action != .skipped, action != .delivered || reap { pending.release(workDir: settings.workDir) }
        return outcome
    }

    func recover(runId: String, lease: RunLease?, reap: Bool) async -> Outcome? {
        var batches = 0
        var seconds = 0.0
        func outcome(_ action: Outcome.Action, _ detail: String, exitCode: Int32? = nil) -> Outcome {
            Outcome(runId: runId, action: action, batchesDelivered: batches, detail: detail, seconds: seconds, exitCode: exitCode)
        }
        func refused(_ error: any Error) -> Outcome {
            let wrapped = GuardianFlowError.wrap(error)
            return outcome(.skipped, "could not end it: \(wrapped.description)", exitCode: wrapped.exitCode)
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
            return outcome(.skipped, "MLflow did not answer: \(error)", exitCode: GuardianFlowError.wrap(error).exitCode)
        }
        let journal: RunJournal
        do {
            journal = try RunJournal(workDir: settings.workDir, runId: runId)
        } catch {
            return outcome(.skipped, "its journal cannot be read: \(error)", exitCode: 74)
        }
        let isOpen = run.info.status == .running || run.info.status == .scheduled
        // The store its end writes to must be usable from here before anything is done: without
        // the S3 settings of an s3:// run, nothing is delivered, uploaded, registered or ended,
        // and the journal stays for a `sync` that has them.
        let finisher: RunFinisher
        do {
            finisher = try RunFinisher(client: client, artifactURI: run.info.artifactURI, settings: settings)
        } catch {
            let wrapped = GuardianFlowError.wrap(error)
            let needed = isOpen && (reap || journal.pending.contains { $0.kind != .batch })
            return outcome(
                .skipped, "left as it is, its journal kept: \(wrapped.description)", exitCode: needed ? wrapped.exitCode : nil)
        }
        // 1. The batches, in order.
        let before = journal.pendingCount
        let logger = RunLogger(journal: journal, client: client, logger: logger)
        let clock = ContinuousClock()
        let started = clock.now
        logger.start()
        let delivered = await logger.drain(timeout: patience)
        let elapsed = clock.now - started
        await logger.stop()
        batches = before - journal.pendingCount
        seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        guard delivered else {
            return outcome(
                .skipped, "MLflow did not take the journal within \(patience.components.seconds) s; \(journal.pendingCount) record(s) wait in \(journal.path)",
                exitCode: 69)
        }
        // 2. The end the dead process had planned, if it got that far.
        if let record = journal.pending.first {
            do {
                if let plan = record.finish {
                    if isOpen {
                        let (model, _) = try await finisher.finish(plan)
                        try? journal.markDelivered(through: record.seq)
                        release(runId, journal)
                        return outcome(.finished, "FINISHED; registered \(model.name) version \(model.version) as @\(model.alias ?? "-")")
                    }
                } else if let plan = record.end {
                    let done = isOpen ? try await finisher.end(plan) : RunFinisher.EndOutcome()
                    try? journal.markDelivered(through: record.seq)
                    release(runId, journal)
                    let missing = done.missing.keys.sorted()
                    return outcome(.ended, "ended \(plan.status)" + (missing.isEmpty ? "" : "; not uploaded: \(missing.joined(separator: ", "))"))
                }
            } catch {
                return refused(error)
            }
        }
        // 3. No end planned: the process died mid-training.
        guard isOpen else {
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
        let done: RunFinisher.EndOutcome
        do {
            done = try await finisher.end(plan)
        } catch {
            return refused(error)
        }
        release(runId, journal)
        let missing = done.missing.keys.sorted()
        return outcome(
            .reaped, "KILLED (its process, \(holder), is gone)" + (missing.isEmpty ? "" : "; not uploaded: \(missing.joined(separator: ", "))"))
    }

    func release(_ runId: String, _ journal: RunJournal) {
        journal.remove()
        RunLease.release(workDir: settings.workDir, runId: runId)
    }
}

import Config
import Delivery
import Foundation
import Glibc
import GuardianFlowCore
import Logging
import MLflow
import Registry

/// How a training's run ends: FINISHED with its artifacts and model version (``finish(_:)``),
/// FAILED or KILLED (``end(status:tags:uploadWeights:)``). Each end is journaled first, so
/// that `guardianflow sync` can carry it out when this process cannot.
extension TrainingSession {
    func finish(_ finished: TrainerEvent.Finished) async throws -> TrainingResult {
        do {
            return try await uncancelledThrowing { try await self.finishUnprotected(finished) }
        } catch {
            let wrapped = GuardianFlowError.wrap(error)
            if case .interrupted = wrapped { throw wrapped }  // the plan stays for sync
            if wrapped.exitCode == 69, journal.pending.contains(where: { $0.kind == .finish }) {
                // MLflow or the artifact store went away while finishing: the plan stays in the
                // journal, and `guardianflow sync` finishes the run (FINISHED, registered) later.
                RunLease.release(workDir: settings.workDir, runId: run.runId)
                if case .unavailable = wrapped { throw wrapped }
                throw GuardianFlowError.unavailable(
                    "\(wrapped.description)\nRun \(run.runId) is trained; finishing it (artifacts, model version) waits in "
                        + "\(journal.path). When the server answers, run `guardianflow sync`.")
            }
            await uncancelled {
                // The finish plan failed for good: skip it, so that the end below is what sync would do.
                if let plan = self.journal.pending.first(where: { $0.kind == .finish }) { try? self.journal.markDelivered(through: plan.seq) }
                await self.endFailed(kind: "guardianflow", message: "after training: \(wrapped.description)", uploadWeights: false)
            }
            throw wrapped
        }
    }

    func finishUnprotected(_ finished: TrainerEvent.Finished) async throws -> TrainingResult {
        progress(.finishing("logging the best checkpoint's metrics"))
        flushSamples()
        let summary = RunSummary(finished, lastEpoch: lastEpoch, gpu: monitor?.gpuSummary)
        if let hint = summary.zeroMAPHint { logger.warning("\(hint)") }
        runLogger.log(metrics: summary.metricPoints(timestamp: mlflowTimestamp()))
        let plan = FinishPlan(
            runId: run.runId, experimentId: run.experimentId, artifactURI: run.artifactURI, saveDir: finished.saveDir,
            logFile: logFile, manifestFile: saveDir + ".manifest.json", epochsCompleted: Int(summary.step),
            bestMetrics: summary.best.dictionary(), modelName: options.registeredModelName(experiment: experimentName),
            alias: ModelRegistry.candidate,
            versionTags: summary.versionTags(runId: run.runId, modelArch: modelArch, dataset: dataset, options: options))
        let finisher = try makeFinisher()
        // When the disk refuses it, the weights are trained: finish without the journal's safety
        // net rather than lose them.
        let record = journalPlan { .finish(seq: $0, plan) }

        try await serverWait.wait(
            then: "finish the run (upload its artifacts, register the model)", limit: settings.outageWait, interruptible: true)
        let (model, bestSHA) = try await finisher.finish(plan)
        control.recordEnd(.finished)
        if let record { try? journal.markDelivered(through: record.seq) }
        released()
        return TrainingResult(
            runId: run.runId, experimentId: run.experimentId, status: .finished, metrics: summary.best, model: model,
            artifactURI: run.artifactURI, saveDir: finished.saveDir, epochsCompleted: Int(summary.step), weightsSHA256: bestSHA)
    }

    /// Waits for MLflow to take the journal before an end.
    var serverWait: ServerWait {
        ServerWait(
            run: run, client: client, journal: journal, runLogger: runLogger, control: control, workDir: settings.workDir, logger: logger)
    }

    /// Journals a run's planned end, unless the disk refuses it (now, or earlier: then the
    /// logger holds batches in memory that must go before any plan). Nil when not journaled;
    /// ``diskFailure`` then says why.
    func journalPlan(_ make: (Int) -> JournalRecord) -> JournalRecord? {
        if let earlier = runLogger.diskError {
            diskFailure = diskFailure ?? earlier
            return nil
        }
        do {
            return try journal.append(make)
        } catch {
            let wrapped = GuardianFlowError.wrap(error)
            diskFailure = diskFailure ?? wrapped
            logger.error("\(wrapped.description) Ending run \(run.runId) without its journal.")
            return nil
        }
    }

    /// Ends the run KILLED after a stop: last.pt and the log uploaded, tags saying why.
    func endKilled(signal: Int32) async -> SessionEnding {
        let name = signal == SIGTERM ? "SIGTERM" : "SIGINT"
        return await end(
            status: .killed,
            tags: [
                KeyValue(key: "guardianflow.error.kind", value: "interrupted"),
                KeyValue(key: "guardianflow.error.message", value: "stopped by \(name) at epoch \(lastEpoch)/\(epochsTotal)"),
                KeyValue(key: "guardianflow.error.signal", value: String(signal)),
            ], uploadWeights: true)
    }

    /// Ends the run FAILED with tags saying why, uploading the log (and last.pt when asked).
    @discardableResult
    func endFailed(kind: String, message: String, uploadWeights: Bool) async -> SessionEnding {
        await end(
            status: .failed,
            tags: [
                KeyValue(key: "guardianflow.error.kind", value: kind),
                KeyValue(key: "guardianflow.error.message", value: Redaction.scrub(message, secrets: settings.secretValues)),
            ], uploadWeights: uploadWeights)
    }

    /// The journaled end: recorded first, then done once the journal before it was delivered;
    /// when MLflow does not answer within a short wait, left to `guardianflow sync`. When the
    /// disk refuses the plan, the end is still done at once, and ``diskFailure`` says why.
    func end(status: RunStatus, tags: [KeyValue], uploadWeights: Bool) async -> SessionEnding {
        flushSamples()
        var uploads: [String: String] = [logFile: "logs/train.log"]
        let lastPt = (saveDir as NSString).appendingPathComponent("weights/last.pt")
        if uploadWeights { uploads[lastPt] = "weights/last.pt" }
        let plan = EndPlan(
            runId: run.runId, artifactURI: run.artifactURI, status: status.rawValue, tags: tags, uploads: uploads,
            endTime: mlflowTimestamp())
        let record = journalPlan { .end(seq: $0, plan) }
        do {
            try await serverWait.wait(then: "end the run \(status.rawValue)", limit: min(settings.outageWait, .seconds(15)), interruptible: false)
            let outcome = try await makeFinisher().end(plan)
            control.recordEnd(status)
            if let record { try? journal.markDelivered(through: record.seq) }
            released()
            return .ended(outcome)
        } catch {
            logger.warning("Run \(run.runId) could not be ended \(status.rawValue) on MLflow now (\(error)).")
            return .leftOpen(journaled: record != nil)
        }
    }
}

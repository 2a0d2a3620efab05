#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow
import MLflow
import Testing
import TestSupport

/// Places where guardianflow could report success while something is missing, each against a
/// real MLflow server: creates whose answer was lost, runs whose lease came too late, a disk
/// that stops taking the journal, a resume that cannot reopen its run.
@Suite("Integrity", .mlflowServer)
struct IntegrityTests {
    static let data = TestEnvironment.repoRoot + "/examples/ppe-sample/data.yaml"

    static let started = TrainerEvent.started(
        .init(pid: 1, saveDir: "/tmp/x", ultralytics: "8.4.190", torch: "2", device: "cpu", epochs: 3, startEpoch: 1, resume: false,
              args: ["epochs": "3", "batch": "8"]))
    static func epoch(_ n: Int) -> TrainerEvent {
        .epoch(.init(epoch: n, epochs: 3, time: Double(n), metrics: ["metrics/mAP50-95(B)": 0.1 * Double(n)], learningRates: [:]))
    }

    func settings(_ server: MLflowTestServer, workDir: String = TestEnvironment.temporaryDirectory("integrity")) throws -> Settings {
        try ConfigLoader(environment: [
            "MLFLOW_TRACKING_URI": server.uri, "GUARDIANFLOW_WORK_DIR": workDir, "GUARDIANFLOW_PYTHON": TestEnvironment.python,
            "GUARDIANFLOW_SYSTEM_METRICS_INTERVAL": "0", "GUARDIANFLOW_OUTAGE_WAIT_SECONDS": "5",
        ]).load()
    }

    func runner(
        _ settings: Settings, experiment: String, control: TrainingControl = TrainingControl(), launcher: any TrainerLauncher
    ) -> TrainingRunner {
        var runner = TrainingRunner(
            experimentName: experiment, modelArch: "yolov8n.yaml", dataYAML: Self.data, settings: settings, control: control)
        runner.launcher = launcher
        return runner
    }

    // MARK: Creates whose answer is lost

    @Test("a create the server carried out but whose answer was lost is not made twice: one run, one model version")
    func createOnce() async throws {
        let server = try currentServer()
        let proxy = try await LossyProxy.start(
            upstream: server.uri, losing: ["/api/2.0/mlflow/runs/create", "/api/2.0/mlflow/model-versions/create"])
        try await withStopping(proxy) { proxy in
            let direct = try server.client()
            let experiment = try await direct.getOrCreateExperiment(named: "lost-\(UUID().uuidString.prefix(6))")
            let client = try MLflowClient(trackingURI: proxy.uri)
            let run = try await client.createRun(experimentId: experiment.experimentId, runName: "once")
            let runs = try await direct.allRuns(experimentIds: [experiment.experimentId])
            #expect(runs.map(\.info.runId) == [run.runId], "the retry found the run the first attempt made")

            let name = "lost-model-\(UUID().uuidString.prefix(6))"
            _ = try await direct.getOrCreateRegisteredModel(name: name)
            let version = try await client.createModelVersion(name: name, source: run.artifactURI + "/weights", runId: run.runId)
            let versions = try await direct.allModelVersions(name: name)
            #expect(versions.map(\.version) == [version.version])

            let dropped = try await proxy.dropped()
            #expect(dropped["/api/2.0/mlflow/runs/create"] == 1, "the proxy really lost one answer of each: \(dropped)")
            #expect(dropped["/api/2.0/mlflow/model-versions/create"] == 1, "\(dropped)")
        }
    }

    @Test("a journal batch replayed after its answer was lost leaves one metric point per step")
    func replayAfterLostAnswer() async throws {
        let server = try currentServer()
        let proxy = try await LossyProxy.start(upstream: server.uri, losing: ["/api/2.0/mlflow/runs/log-batch"])
        try await withStopping(proxy) { proxy in
            let direct = try server.client()
            let experiment = try await direct.getOrCreateExperiment(named: "replay-\(UUID().uuidString.prefix(6))")
            let run = try await direct.createRun(experimentId: experiment.experimentId)
            let journal = try RunJournal(workDir: TestEnvironment.temporaryDirectory("replay"), runId: run.runId)
            let logger = RunLogger(journal: journal, client: try MLflowClient(trackingURI: proxy.uri))
            logger.start()
            let now = mlflowTimestamp()
            logger.log(metrics: [Metric(key: "mAP50", value: 0.5, timestamp: now, step: 1), Metric(key: "mAP50", value: 0.6, timestamp: now + 1, step: 2)])
            #expect(await logger.drain(timeout: .seconds(30)))
            await logger.stop()
            #expect(try await proxy.dropped()["/api/2.0/mlflow/runs/log-batch"] == 1)
            let history = try await direct.metricHistory(runId: run.runId, key: "mAP50")
            #expect(history.map(\.step).sorted() == [1, 2], "sent twice, stored once: \(history)")
        }
    }

    // MARK: Leases

    @Test("a process that died between creating its run and leasing it: recovery finds the run by its create token and ends it KILLED")
    func pendingLease() async throws {
        let server = try currentServer()
        let settings = try settings(server)
        let client = try server.client()
        let experiment = try await client.getOrCreateExperiment(named: "pending-\(UUID().uuidString.prefix(6))")
        // A holder that is gone: a child that has exited and been reaped.
        let dead = try ChildProcess.spawn(ProcessSpec(executable: "/bin/true"))
        _ = await dead.waitForExit()
        let token = UUID().uuidString
        var lease = RunLease.pending(
            experimentId: experiment.experimentId, createToken: token, trackingURI: TrackingURI.redact(client.trackingURI.baseURL))
        lease.pid = dead.pid
        lease.processStart = 1
        try lease.write(workDir: settings.workDir)
        let run = try await client.createRun(experimentId: experiment.experimentId, createToken: token)

        let outcomes = await RunRecovery(settings: settings, client: client).recover(reap: true)
        #expect(outcomes.map(\.runId) == [run.runId])
        #expect(outcomes.first?.action == .reaped)
        let after = try await client.getRun(id: run.runId)
        #expect(after.info.status == .killed)
        #expect(after.tags["guardianflow.reaped"] == "true")
        #expect(RunLease.all(workDir: settings.workDir).isEmpty, "the pending lease is gone once its run is ended")
    }

    @Test("train --resume whose lease cannot be written leaves the run as it was (KILLED), not RUNNING without a lease")
    func resumeWithoutLease() async throws {
        let server = try currentServer()
        let settings = try settings(server)
        let control = TrainingControl()
        let experiment = "resume-\(UUID().uuidString.prefix(6))"
        let runner = runner(
            settings, experiment: experiment, control: control,
            launcher: WeightsWritingLauncher(inner: ReplayTrainerLauncher(events: [Self.started, Self.epoch(1)], hangAfterEvents: true)))
        let task = Task { try await runner.run(epochs: 3, batchSize: 8) }
        try await Task.sleep(for: .seconds(1))
        control.stop(signal: SIGINT)
        await #expect(throws: GuardianFlowError.self) { try await task.value }
        let client = try server.client()
        let run = try await server.onlyRun(inExperiment: experiment)
        #expect(run.info.status == .killed)

        // The lease's file cannot be written: a directory stands in its place.
        try FileManager.default.createDirectory(
            atPath: RunLease.directory(workDir: settings.workDir) + "/\(run.info.runId).json", withIntermediateDirectories: true)
        let resumer = self.runner(settings, experiment: experiment, launcher: ReplayTrainerLauncher(events: [Self.started]))
        do {
            _ = try await resumer.resume(runId: run.info.runId)
            Issue.record("expected the resume to fail")
        } catch let error as GuardianFlowError {
            #expect(error.exitCode == 74, "\(error)")
            #expect(error.description.contains("stays KILLED"), "\(error)")
        }
        #expect(try await client.getRun(id: run.info.runId).info.status == .killed)
    }

    // MARK: A disk that stops taking the journal

    @Test("a full disk under the journal stops the training: exit 74, run FAILED (kind io), what was logged delivered from memory")
    func diskFull() async throws {
        let server = try currentServer()
        let settings = try settings(server)
        let control = TrainingControl()
        let experiment = "diskfull-\(UUID().uuidString.prefix(6))"
        let runner = runner(
            settings, experiment: experiment, control: control,
            launcher: DiskFullLauncher(
                inner: ReplayTrainerLauncher(
                    events: [Self.started, Self.epoch(1), Self.epoch(2), Self.epoch(3)], hangAfterEvents: true, delay: .milliseconds(200)),
                workDir: settings.workDir))
        do {
            _ = try await runner.run(epochs: 3, batchSize: 8)
            Issue.record("expected the training to stop")
        } catch let error as GuardianFlowError {
            #expect(error.exitCode == 74, "\(error)")
            #expect(error.description.contains("No space left on device"), "\(error)")
            #expect(error.description.contains("is FAILED"), "\(error)")
        }
        #expect(control.endedStatus == .failed)
        let run = try await server.onlyRun(inExperiment: experiment)
        #expect(run.info.status == .failed)
        #expect(run.tags["guardianflow.error.kind"] == "io")
        #expect(run.params["epochs"] == "3", "the started event's params reached MLflow although the journal refused them")
    }
}

/// A replayed trainer that leaves a last.pt in its save dir, as a real one does after an epoch.
struct WeightsWritingLauncher: TrainerLauncher {
    var inner: ReplayTrainerLauncher

    func launch(_ job: TrainingJob, logFile: String) throws -> any TrainerProcess {
        let weights = "\(job.project)/\(job.name)/weights"
        try FileManager.default.createDirectory(atPath: weights, withIntermediateDirectories: true)
        try Data(repeating: 1, count: 1000).write(to: URL(fileURLWithPath: weights + "/last.pt"))
        return try inner.launch(job, logFile: logFile)
    }
}

/// A replayed trainer whose run's journal sits on a full disk: the journal file is replaced by a
/// link to /dev/full, where every write fails with ENOSPC.
struct DiskFullLauncher: TrainerLauncher {
    var inner: ReplayTrainerLauncher
    var workDir: String

    func launch(_ job: TrainingJob, logFile: String) throws -> any TrainerProcess {
        let path = RunJournal.directory(workDir: workDir) + "/\(job.name).jsonl"
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/full")
        return try inner.launch(job, logFile: logFile)
    }
}

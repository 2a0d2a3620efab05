#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow
import MLflow
import Testing
import TestSupport

/// The tracking server goes away and comes back: nothing logged is lost, no metric point is stored twice.
@Suite("Tracking outages: the journal, its replay, guardianflow sync", .serialized)
struct OutageTests {
    static let data = TestEnvironment.repoRoot + "/examples/ppe-sample/data.yaml"

    @Test("MLflow stopped mid-training and started again: every epoch of results.csv once in the history, FINISHED, registered")
    func outageDuringTraining() async throws {
        let directory = TestEnvironment.temporaryDirectory("outage-server")
        let port = TestEnvironment.freePort()
        let work = TestEnvironment.temporaryDirectory("outage-work")
        let epochs = 10
        try await withStopping(try await MLflowTestServer.start(directory: directory, port: port)) { first in
            let training = try CLIChild(
                [
                    "train", "--experiment", "outage", "--data", Self.data, "--model", "yolov8n.yaml", "--epochs", String(epochs),
                    "--batch", "8", "--imgsz", "64", "--device", "cpu", "--workers", "0", "--arg", "plots=false",
                    "--system-metrics-interval", "1", "--json",
                ],
                environment: TestEnvironment.cleanEnvironment([
                    "MLFLOW_TRACKING_URI": first.uri, "GUARDIANFLOW_WORK_DIR": work, "GUARDIANFLOW_OUTAGE_WAIT_SECONDS": "240",
                ]))
            defer { training.process.signal(SIGKILL) }
            // The first epoch reached MLflow: take the server away.
            try await training.waitFor("epoch 1/\(epochs)")
            await first.stop()
            // Waiting on the child reaps it if it died: nil means it still runs after 8 s.
            let exitedDuringOutage = await training.process.waitForExit(timeout: .seconds(8))
            #expect(exitedDuringOutage == nil, "training goes on while MLflow is away")

            try await withStopping(try await MLflowTestServer.start(directory: directory, port: port)) { second in
                let (exit, stdout, stderr) = await training.finish()
                #expect(exit == .exited(0), "\(stderr.suffix(3000))")
                #expect(stderr.contains("not answering"), "the outage is reported: \(stderr.suffix(2000))")
                #expect(stderr.contains("answers again"), "the recovery is reported: \(stderr.suffix(2000))")
                let result = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], "\(stdout)")
                let runId = try #require(result["run_id"] as? String)
                #expect(result["status"] as? String == "FINISHED")

                // results.csv: the epochs and their mAP50-95, as ultralytics wrote them.
                let csv = try String(contentsOfFile: "\(work)/runs/\(runId)/results.csv", encoding: .utf8)
                let rows = csv.split(separator: "\n").map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
                let header = try #require(rows.first)
                let epochColumn = try #require(header.firstIndex(of: "epoch"))
                let mapColumn = try #require(header.firstIndex(of: "metrics/mAP50-95(B)"))
                let expected = rows.dropFirst().map { (Int($0[epochColumn]) ?? -1, Double($0[mapColumn]) ?? .nan) }
                #expect(expected.map(\.0) == Array(1...epochs))

                let check = try await Python.json(
                    """
                    import json
                    from mlflow import MlflowClient
                    c = MlflowClient()
                    r = c.get_run('\(runId)')
                    h = sorted((m.step, m.value) for m in c.get_metric_history('\(runId)', 'mAP50_95'))
                    box = [m.step for m in c.get_metric_history('\(runId)', 'box_loss')]
                    sysm = sorted(m.step for m in c.get_metric_history('\(runId)', 'system/system_memory_usage_megabytes'))
                    v = c.get_model_version_by_alias('outage', 'candidate')
                    print(json.dumps({'status': r.info.status, 'history': h, 'box': sorted(box), 'sys': sysm, 'version_run': v.run_id}))
                    """, environment: second.pythonEnvironment)
                let py = try #require(check as? [String: Any])
                #expect(py["status"] as? String == "FINISHED")
                #expect(py["version_run"] as? String == runId)
                let history = try #require(py["history"] as? [[Double]])
                #expect(history.map { Int($0[0]) } == Array(1...epochs), "each epoch exactly once: \(history)")
                for (row, point) in zip(expected, history) {
                    #expect(abs(row.1 - point[1]) < 1e-4, "epoch \(row.0): results.csv \(row.1), MLflow \(point[1])")
                }
                #expect(py["box"] as? [Int] == Array(1...epochs))
                let systemSteps = try #require(py["sys"] as? [Int])
                #expect(systemSteps == Array(0..<systemSteps.count), "system samples once each: \(systemSteps)")
                #expect(!FileManager.default.fileExists(atPath: "\(work)/journal/\(runId).jsonl"), "the journal goes once delivered")
            }
        }
    }

    static func finishedEvents(saveDir: String) throws -> [TrainerEvent] {
        try FileManager.default.createDirectory(atPath: saveDir + "/weights", withIntermediateDirectories: true)
        try Data(repeating: 3, count: 200_000).write(to: URL(fileURLWithPath: saveDir + "/weights/best.pt"))
        let started = TrainerEvent.started(
            .init(pid: 1, saveDir: saveDir, ultralytics: "8.4.190", torch: "2", device: "cpu", epochs: 3, startEpoch: 1, resume: false,
                  args: ["epochs": "3"]))
        let epochs = (1...3).map { n in
            TrainerEvent.epoch(.init(epoch: n, epochs: 3, time: Double(n), metrics: ["metrics/mAP50-95(B)": 0.1 * Double(n)], learningRates: [:]))
        }
        let finished = TrainerEvent.finished(
            .init(saveDir: saveDir, best: saveDir + "/weights/best.pt", last: nil, epochsCompleted: 3,
                  bestMetrics: ["metrics/mAP50-95(B)": 0.3], speedMs: ["inference": 1.0], resultsCSV: nil, argsYAML: nil))
        return [started] + epochs + [finished]
    }

    @Test("Ctrl-C while MLflow is away: train --json says status null (the end waits for sync), exit 130; sync then ends it KILLED")
    func interruptedDuringOutage() async throws {
        let directory = TestEnvironment.temporaryDirectory("ctrlc-server")
        let port = TestEnvironment.freePort()
        let work = TestEnvironment.temporaryDirectory("ctrlc-work")
        let environment = TestEnvironment.cleanEnvironment([
            "MLFLOW_TRACKING_URI": "http://127.0.0.1:\(port)", "GUARDIANFLOW_WORK_DIR": work, "GUARDIANFLOW_OUTAGE_WAIT_SECONDS": "3",
        ])
        let (exit, stdout, stderr) = try await withStopping(try await MLflowTestServer.start(directory: directory, port: port)) { server in
            let training = try CLIChild(
                [
                    "train", "--experiment", "ctrlc", "--data", Self.data, "--model", "yolov8n.yaml", "--epochs", "50", "--batch", "8",
                    "--imgsz", "64", "--device", "cpu", "--workers", "0", "--arg", "plots=false", "--json",
                ],
                environment: environment)
            defer { training.process.signal(SIGKILL) }
            try await training.waitFor("epoch 1/50")
            await server.stop()
            training.process.signal(SIGINT, group: false)  // the CLI only, as a terminal's Ctrl-C reaches it
            return await training.finish()
        }
        #expect(exit == .exited(130), "\(stderr.suffix(2000))")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], "\(stdout)")
        let runId = try #require(json["run_id"] as? String)
        #expect(json.keys.contains("status") && json["status"] is NSNull, "the run is not KILLED yet: \(json)")
        #expect(stderr.contains("guardianflow sync"), "\(stderr.suffix(2000))")

        try await withStopping(try await MLflowTestServer.start(directory: directory, port: port)) { server in
            #expect(try await server.client().getRun(id: runId).info.status == .running)
            let sync = try await CLI.run(["sync"], environment: environment, timeout: .seconds(120))
            #expect(sync.exitCode == 0, "\(sync.stderr)")
            let run = try await server.client().getRun(id: runId)
            #expect(run.info.status == .killed)
            #expect(run.tags["guardianflow.error.kind"] == "interrupted")
        }
    }

    enum GiveUp: String, Sendable, CaseIterable, CustomTestStringConvertible {
        case outageWait = "past the outage wait: exit 69"
        case ctrlC = "Ctrl-C while waiting: exit 130"
        case duringFinish = "MLflow killed while the artifacts upload: exit 69"
        var testDescription: String { rawValue }
    }

    @Test("MLflow gone at the end of a training: the process gives up naming the journal and sync; `guardianflow sync` then finishes the run",
          arguments: GiveUp.allCases)
    func syncAfterTheProcessGaveUp(_ giveUp: GiveUp) async throws {
        let directory = TestEnvironment.temporaryDirectory("sync-server")
        let port = TestEnvironment.freePort()
        let work = TestEnvironment.temporaryDirectory("sync-work")
        let saveDir = TestEnvironment.temporaryDirectory("sync-save")
        let environment = [
            "GUARDIANFLOW_WORK_DIR": work, "GUARDIANFLOW_PYTHON": TestEnvironment.python,
            "GUARDIANFLOW_OUTAGE_WAIT_SECONDS": giveUp == .ctrlC ? "300" : "1", "GUARDIANFLOW_SYSTEM_METRICS_INTERVAL": "0",
        ]
        let notices = LogCapture()
        let control = TrainingControl()
        let runId: String = try await withStopping(try await MLflowTestServer.start(directory: directory, port: port)) { server in
            let settings = try ConfigLoader(environment: environment.merging(["MLFLOW_TRACKING_URI": server.uri]) { $1 }).load()
            var runner = TrainingRunner(
                experimentName: "sync", modelArch: "yolov8n.yaml", dataYAML: Self.data, settings: settings, control: control,
                onProgress: { progress in
                    // A crash of the server in the middle of the finish, not before it.
                    if giveUp == .duringFinish, progress.phase == .finishing("uploading artifacts") { server.kill() }
                },
                logger: notices.logger)
            // The server goes away after the first epoch (or, for duringFinish, while the artifacts upload).
            let events = try Self.finishedEvents(saveDir: saveDir)
            runner.launcher = ReplayTrainerLauncher(events: events, delay: .milliseconds(300))
            let task = Task { try await runner.run(epochs: 3, batchSize: 8) }
            let client = try server.client()
            let deadline = ContinuousClock.now + .seconds(60)
            var id: String?
            while ContinuousClock.now < deadline {
                if let exp = try? await client.getExperiment(named: "sync"), let run = try? await client.allRuns(experimentIds: [exp.experimentId]).first,
                    (try? await client.metricHistory(runId: run.info.runId, key: "mAP50_95").count) ?? 0 >= 1
                {
                    id = run.info.runId
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            if giveUp != .duringFinish { await server.stop() }
            if giveUp == .ctrlC {
                let waitUntil = ContinuousClock.now + .seconds(60)
                while !notices.contains("waiting up to"), ContinuousClock.now < waitUntil { try await Task.sleep(for: .milliseconds(50)) }
                #expect(notices.contains("Ctrl-C leaves it to `guardianflow sync`"))
                control.stop(signal: SIGINT)
            }
            let clock = ContinuousClock()
            let stoppedAt = clock.now
            do {
                _ = try await task.value
                Issue.record("expected MLflow to be unreachable at the end")
            } catch let error as GuardianFlowError {
                #expect(error.exitCode == (giveUp == .ctrlC ? 130 : 69))
                #expect(control.endedStatus == nil, "the run's end is left to sync, not done")
                if giveUp == .ctrlC { #expect(clock.now - stoppedAt < .seconds(30), "Ctrl-C ends the wait") }
                #expect(error.description.contains("guardianflow sync"), "\(error)")
                #expect(error.description.contains("\(work)/journal/"), "\(error)")
                if giveUp == .duringFinish {
                    #expect(error.description.contains("is trained; finishing it (artifacts, model version) waits in"), "\(error)")
                }
            }
            if giveUp == .duringFinish {
                // The run was not ended FAILED: finishing it is left to sync.
                await server.stop()
                #expect(FileManager.default.fileExists(atPath: "\(work)/journal/\(try #require(id)).jsonl"))
            }
            return try #require(id)
        }
        #expect(FileManager.default.fileExists(atPath: "\(work)/journal/\(runId).jsonl"))

        try await withStopping(try await MLflowTestServer.start(directory: directory, port: port)) { server in
            let sync = try await CLI.run(
                ["sync", "--json"], environment: TestEnvironment.cleanEnvironment(environment.merging(["MLFLOW_TRACKING_URI": server.uri]) { $1 }),
                timeout: .seconds(120))
            #expect(sync.exitCode == 0, "\(sync.stderr)")
            let outcomes = try #require(try JSONSerialization.jsonObject(with: Data(sync.stdout.utf8)) as? [[String: Any]], "\(sync.stdout)")
            let outcome = try #require(outcomes.first { $0["runId"] as? String == runId }, "\(sync.stdout)")
            #expect(outcome["action"] as? String == "finished", "\(outcome)")
            let check = try await Python.json(
                """
                import json
                from mlflow import MlflowClient
                c = MlflowClient()
                r = c.get_run('\(runId)')
                h = sorted(m.step for m in c.get_metric_history('\(runId)', 'mAP50_95'))
                v = c.get_model_version_by_alias('sync', 'candidate')
                print(json.dumps({'status': r.info.status, 'steps': h, 'run': v.run_id, 'versions': len(c.search_model_versions("name='sync'")),
                                  'best': r.data.metrics.get('best/mAP50_95')}))
                """, environment: server.pythonEnvironment)
            let py = try #require(check as? [String: Any])
            #expect(py["status"] as? String == "FINISHED")
            #expect(py["steps"] as? [Int] == [1, 2, 3])
            #expect(py["run"] as? String == runId)
            #expect(py["versions"] as? Int == 1)
            #expect(py["best"] as? Double == 0.3)
            #expect(!FileManager.default.fileExists(atPath: "\(work)/journal/\(runId).jsonl"))
            // A second sync has nothing to do.
            let again = try await CLI.run(
                ["sync", "--json"], environment: TestEnvironment.cleanEnvironment(environment.merging(["MLFLOW_TRACKING_URI": server.uri]) { $1 }))
            #expect(again.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]", "\(again.stdout)")
        }
    }
}

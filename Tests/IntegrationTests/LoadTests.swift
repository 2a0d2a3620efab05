#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow
import MLflow
import Testing
import TestSupport

/// Several machines, one tracking server: a PostgreSQL-backed `mlflow server` with 4 workers and
/// 16 guardianflow processes, each with a work dir of its own, training at once (one real, 15
/// replaying a recorded training: their `python` setting is a `ReplayingPython`, which runs
/// `python -m guardianflow_trainer.replay` where guardianflow runs the bridge), registering versions
/// of one model and promoting them.
@Suite("Load: 16 trainings on a PostgreSQL-backed MLflow", .serialized)
struct LoadTests {
    static let data = TestEnvironment.repoRoot + "/examples/ppe-sample/data.yaml"

    struct Outcome: Sendable {
        var index: Int
        var train: CLI.Result
        var version: String?
        var promote: CLI.Result?
        /// Whether the trainer's log (`<work>/runs/<run>.log`) says it replayed a recording.
        var replayed: Bool
    }

    static func replayed(work: String) -> Bool {
        let runs = work + "/runs"
        let logs = ((try? FileManager.default.contentsOfDirectory(atPath: runs)) ?? []).filter { $0.hasSuffix(".log") }
        return logs.contains { log in
            (try? String(contentsOfFile: runs + "/" + log, encoding: .utf8))?.contains("guardianflow_trainer: replaying ") == true
        }
    }

    /// Records one real tiny training for the replays.
    static func record() async throws -> String {
        let directory = TestEnvironment.temporaryDirectory("recording")
        let job: [String: Any] = [
            "model": "yolov8n.yaml", "data": data, "epochs": 2, "batch": 8, "imgsz": 64, "device": "cpu",
            "project": directory + "/runs", "name": "rec", "workers": 0, "args": ["plots": false],
        ]
        try JSONSerialization.data(withJSONObject: job).write(to: URL(fileURLWithPath: directory + "/job.json"))
        let result = try await ChildProcess.run(
            TestEnvironment.python, ["-m", "guardianflow_trainer.record", "--job", directory + "/job.json", "--out", directory + "/rec"],
            environment: TestEnvironment.cleanEnvironment(["YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": directory + "/yolo"]),
            timeout: .seconds(300))
        guard result.exit == .exited(0) else {
            throw Python.Failure(description: "recording failed (\(result.exit)):\n\(result.stderr.suffix(3000))")
        }
        return directory + "/rec"
    }

    @Test("16 processes train, register versions of one model and promote at once: no failure, unique versions, valid aliases, every promotion in the history")
    func sixteenTrainings() async throws {
        let recording = try await Self.record()
        let replayingPython = try ReplayingPython.make(recording: recording, delay: 0.3)
        try await withStopping(try await PostgresTestServer.start()) { postgres in
            try await withStopping(try await MLflowTestServer.start(backendStoreURI: postgres.uri, workers: 4)) { server in
                let model = "load-model"
                let outcomes = try await withThrowingTaskGroup(of: Outcome.self) { group in
                    for index in 0..<16 {
                        group.addTask {
                            let work = TestEnvironment.temporaryDirectory("load-\(index)")
                            var extra = ["MLFLOW_TRACKING_URI": server.uri, "GUARDIANFLOW_WORK_DIR": work]
                            if index > 0 { extra["GUARDIANFLOW_PYTHON"] = replayingPython }
                            let environment = TestEnvironment.cleanEnvironment(extra)
                            let train = try await CLI.run(
                                [
                                    "train", "--experiment", "load", "--data", Self.data, "--model", "yolov8n.yaml", "--epochs", "2",
                                    "--batch", "8", "--imgsz", "64", "--device", "cpu", "--workers", "0", "--arg", "plots=false",
                                    "--model-name", model, "--customer", "site-\(index)", "--json",
                                ], environment: environment, timeout: .seconds(900))
                            var outcome = Outcome(index: index, train: train, replayed: Self.replayed(work: work))
                            guard train.exitCode == 0,
                                let json = try? JSONSerialization.jsonObject(with: Data(train.stdout.utf8)) as? [String: Any],
                                let version = (json["model"] as? [String: Any])?["version"] as? String
                            else { return outcome }
                            outcome.version = version
                            outcome.promote = try await CLI.run(
                                ["promote", model, "--version", version, "--force", "--reason", "load test \(index)", "--json"],
                                environment: environment, timeout: .seconds(300))
                            return outcome
                        }
                    }
                    var all: [Outcome] = []
                    for try await outcome in group { all.append(outcome) }
                    return all.sorted { $0.index < $1.index }
                }
                for outcome in outcomes {
                    #expect(outcome.train.exitCode == 0, "train \(outcome.index): \(outcome.train.stderr.suffix(2000))")
                    #expect(outcome.promote?.exitCode == 0, "promote \(outcome.index): \(outcome.promote?.stderr.suffix(2000) ?? "not run")")
                    #expect(outcome.replayed == (outcome.index > 0), "train \(outcome.index) replayed: \(outcome.replayed)")
                }
                let versions = outcomes.compactMap(\.version)
                #expect(Set(versions).count == 16, "unique versions: \(versions.sorted())")
                #expect(Set(versions) == Set((1...16).map(String.init)))

                let check = try await Python.json(
                    """
                    import json
                    from mlflow import MlflowClient
                    c = MlflowClient()
                    m = c.get_registered_model('\(model)')
                    exp = c.get_experiment_by_name('load')
                    runs = c.search_runs([exp.experiment_id], max_results=100)
                    print(json.dumps({'aliases': m.aliases, 'statuses': [r.info.status for r in runs],
                                      'versions': sorted(int(v.version) for v in c.search_model_versions("name='\(model)'"))}))
                    """, environment: server.pythonEnvironment)
                let py = try #require(check as? [String: Any])
                let aliases = try #require(py["aliases"] as? [String: String])
                let champion = try #require(aliases["champion"], "a champion: \(aliases)")
                #expect(versions.contains(champion))
                #expect(aliases["rollback"] != champion, "rollback is not the champion: \(aliases)")
                #expect(py["versions"] as? [Int] == Array(1...16))
                #expect((py["statuses"] as? [String])?.count == 16)
                #expect((py["statuses"] as? [String])?.allSatisfy { $0 == "FINISHED" } == true, "\(py["statuses"] ?? "-")")

                let history = try await CLI.run(
                    ["history", model, "--json"], environment: TestEnvironment.cleanEnvironment(["MLFLOW_TRACKING_URI": server.uri]))
                #expect(history.exitCode == 0, "\(history.stderr)")
                let entries = try #require(try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]])
                let promoted = entries.filter { $0["action"] as? String == "promote" }.compactMap { $0["version"] as? String }
                #expect(Set(promoted) == Set(versions), "every promotion in the history: \(promoted.sorted())")
                #expect(promoted.count == 16)
            }
        }
    }
}

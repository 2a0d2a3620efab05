import Foundation
import GuardianFlow
import MLflow
import Testing
import TestSupport

/// What a new user meets first: the demo's dataset learns, `train` needs no `--model`, MLflow's UI
/// shows a model-training experiment with its datasets, and the names of ultralytics' own datasets
/// work offline when the data is there.
@Suite("The first ten minutes", .mlflowServer, .serialized)
struct FirstRunTests {
    static let data = TestEnvironment.repoRoot + "/examples/ppe-sample/data.yaml"

    func env(_ server: MLflowTestServer, work: String) -> [String: String] {
        TestEnvironment.cleanEnvironment(["MLFLOW_TRACKING_URI": server.uri, "GUARDIANFLOW_WORK_DIR": work])
    }

    @Test("the demo's settings without --model: yolov8n.yaml from scratch learns (mAP50 ≥ 0.5), --json has the seven metrics, MLflow sees a training experiment and its datasets")
    func demoLearns() async throws {
        let server = try currentServer()
        let experiment = "first-\(UUID().uuidString.prefix(6))"
        let result = try await CLI.run(
            ["train", "--experiment", experiment, "--data", Self.data, "--epochs", "40", "--batch", "16", "--imgsz", "96", "--device", "cpu",
             "--json"],
            environment: env(server, work: TestEnvironment.temporaryDirectory("first")), timeout: .seconds(900))
        #expect(result.exitCode == 0, "\(result.stderr.suffix(3000))")
        let output = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
        let metrics = try #require(output["metrics"] as? [String: Double], "every metric has a value: \(output)")
        #expect(Set(metrics.keys) == ["mAP50", "mAP50_95", "precision", "recall", "box_loss", "cls_loss", "dfl_loss"])
        #expect((metrics["mAP50"] ?? 0) >= 0.5, "the sample data is learnt: \(metrics)")
        #expect((metrics["box_loss"] ?? 0) > 0, "the best epoch's training losses: \(metrics)")
        #expect(!result.stderr.contains("The best mAP50 is 0"))
        let runId = try #require(output["run_id"] as? String)

        let check = try await Python.json(
            """
            import json, mlflow
            from mlflow import MlflowClient
            c = MlflowClient()
            run = c.get_run('\(runId)')
            exp = c.get_experiment_by_name('\(experiment)')
            inputs = [{'name': i.dataset.name, 'digest': i.dataset.digest, 'source_type': i.dataset.source_type,
                       'source': json.loads(i.dataset.source), 'profile': json.loads(i.dataset.profile),
                       'tags': {t.key: t.value for t in i.tags}} for i in run.inputs.dataset_inputs]
            found = c.search_runs([exp.experiment_id], filter_string="dataset.name = 'ppe-sample/val' AND dataset.context = 'validation'")
            print(json.dumps({'kind': exp.tags.get('mlflow.experimentKind'), 'inputs': inputs, 'found': [r.info.run_id for r in found],
                              'tags': run.data.tags, 'version_tags': c.get_model_version_by_alias('\(experiment)', 'candidate').tags}))
            """, environment: server.pythonEnvironment)
        let py = try #require(check as? [String: Any])
        #expect(py["kind"] as? String == "custom_model_development")
        #expect(py["found"] as? [String] == [runId], "search_runs finds the run by its validation set")
        let tags = try #require(py["tags"] as? [String: String])
        #expect(tags["dataset.sha256"]?.count == 64, "the existing dataset tags stay: \(tags)")
        #expect((py["version_tags"] as? [String: String])?["model_arch"] == "yolov8n.yaml")

        let inputs = try #require(py["inputs"] as? [[String: Any]])
        #expect(inputs.count == 2)
        let byContext = Dictionary(uniqueKeysWithValues: inputs.compactMap { input in
            ((input["tags"] as? [String: String])?["mlflow.data.context"]).map { ($0, input) }
        })
        for (context, split, images) in [("training", "train", 64), ("validation", "val", 16)] {
            let input = try #require(byContext[context], "an input with context \(context): \(inputs)")
            #expect(input["name"] as? String == "ppe-sample/\(split)")
            let digest = try #require(input["digest"] as? String)
            #expect(digest.count == 32 && digest.allSatisfy(\.isHexDigit), "\(digest)")
            #expect(input["source_type"] as? String == "local")
            #expect((input["source"] as? [String: String])?["uri"] == TestEnvironment.repoRoot + "/examples/ppe-sample/images/\(split)")
            let profile = try #require(input["profile"] as? [String: Any])
            #expect(profile["images"] as? Int == images)
            #expect(profile["labels"] as? Int == images)
            #expect((profile["objects"] as? Int ?? 0) >= images)
            #expect(profile["classes"] as? [String] == ["helmet", "vest"])
        }
        #expect(Set(inputs.compactMap { $0["digest"] as? String }).count == 2, "each split has its own digest")
    }

    @Test("an experiment's kind: set on one guardianflow creates and on one without a kind; a kind someone set stays")
    func experimentKind() async throws {
        let server = try currentServer()
        let client = try server.client()
        let mine = "kind-set-\(UUID().uuidString.prefix(6))"
        let bare = "kind-bare-\(UUID().uuidString.prefix(6))"
        _ = try await client.createExperiment(named: mine, tags: ["mlflow.experimentKind": "genai_development"])
        _ = try await client.createExperiment(named: bare)
        let work = TestEnvironment.temporaryDirectory("kind")
        for name in [mine, bare, "kind-new-\(UUID().uuidString.prefix(6))"] {
            // A replayed trainer: this is about the experiment, not the training.
            let saveDir = TestEnvironment.temporaryDirectory("kind-save")
            var runner = TrainingRunner(
                experimentName: name, dataYAML: Self.data,
                settings: try ConfigLoader(environment: env(server, work: work).merging(["GUARDIANFLOW_SYSTEM_METRICS_INTERVAL": "0"]) { $1 })
                    .load())
            runner.launcher = ReplayTrainerLauncher(events: try OutageTests.finishedEvents(saveDir: saveDir))
            _ = try await runner.run(epochs: 3, batchSize: 8)
        }
        let kinds = try await Python.json(
            """
            import json
            from mlflow import MlflowClient
            c = MlflowClient()
            print(json.dumps({e.name: e.tags.get('mlflow.experimentKind') for e in c.search_experiments() if e.name.startswith('kind-')}))
            """, environment: server.pythonEnvironment) as? [String: String]
        #expect(kinds?[mine] == "genai_development", "a kind the user set is never overwritten: \(kinds ?? [:])")
        #expect(kinds?[bare] == "custom_model_development")
        #expect(kinds?.filter { $0.key.hasPrefix("kind-new-") }.values.first == "custom_model_development")
    }

    /// A work dir whose ultralytics settings put `datasets_dir` at `datasets`.
    func workDir(datasetsDir datasets: String) async throws -> String {
        let work = TestEnvironment.temporaryDirectory("builtin-work")
        _ = try await Python.run(
            """
            from ultralytics.utils import SETTINGS
            SETTINGS.update(datasets_dir='\(datasets)')
            """,
            environment: ["YOLO_CONFIG_DIR": work + "/ultralytics-config", "YOLO_OFFLINE": "1"])
        return work
    }

    @Test("--data coco8.yaml, offline: found in ultralytics' datasets_dir, where a small generated copy is, and trained")
    func builtinDatasetOffline() async throws {
        let server = try currentServer()
        let datasets = TestEnvironment.temporaryDirectory("datasets")
        _ = try await ChildProcess.run(
            TestEnvironment.python,
            [TestEnvironment.repoRoot + "/examples/make_dataset.py", "--out", datasets + "/coco8", "--train", "8", "--val", "4"],
            environment: TestEnvironment.cleanEnvironment([:]))
        let work = try await workDir(datasetsDir: datasets)
        let experiment = "builtin-\(UUID().uuidString.prefix(6))"
        let result = try await CLI.run(
            ["train", "--experiment", experiment, "--data", "coco8.yaml", "--epochs", "1", "--batch", "8", "--imgsz", "64", "--device", "cpu",
             "--arg", "plots=false", "--json"],
            environment: env(server, work: work), workingDirectory: TestEnvironment.temporaryDirectory("cwd"), timeout: .seconds(300))
        #expect(result.exitCode == 0, "\(result.stderr.suffix(3000))")
        let output = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
        #expect(output["status"] as? String == "FINISHED")
        let runId = try #require(output["run_id"] as? String)
        let run = try await server.client().getRun(id: runId)
        #expect(run.tags["guardianflow.data"]?.hasSuffix("ultralytics/cfg/datasets/coco8.yaml") == true, "\(run.tags)")
        #expect(run.tags["guardianflow.data_root"] == datasets + "/coco8")
        let profile = try await Python.json(
            """
            import json
            from mlflow import MlflowClient
            r = MlflowClient().get_run('\(runId)')
            print(json.dumps({i.dataset.name: json.loads(i.dataset.profile) for i in r.inputs.dataset_inputs}))
            """, environment: server.pythonEnvironment) as? [String: [String: Any]]
        #expect(profile?["coco8/train"]?["images"] as? Int == 8, "\(profile ?? [:])")
        #expect(profile?["coco8/val"]?["images"] as? Int == 4)
    }

    @Test("--data coco8.yaml, offline, with no copy in datasets_dir: refused (65) before any run exists, saying where it would go and what to do")
    func builtinDatasetMissing() async throws {
        let server = try currentServer()
        let datasets = TestEnvironment.temporaryDirectory("no-datasets")
        let work = try await workDir(datasetsDir: datasets)
        let experiment = "missing-\(UUID().uuidString.prefix(6))"
        let result = try await CLI.run(
            ["train", "--experiment", experiment, "--data", "coco8.yaml", "--epochs", "1", "--device", "cpu"],
            environment: env(server, work: work), workingDirectory: TestEnvironment.temporaryDirectory("cwd"), timeout: .seconds(300))
        #expect(result.exitCode == 65, "\(result.stderr)")
        #expect(result.stderr.contains("'coco8.yaml' is one of ultralytics' built-in datasets"), "\(result.stderr)")
        #expect(result.stderr.contains(datasets + "/coco8"), "where it would go: \(result.stderr)")
        #expect(result.stderr.contains("downloads are off"), "\(result.stderr)")
        #expect(result.stderr.contains("give --data the path of your copy's data YAML"), "\(result.stderr)")
        #expect(try await server.client().getExperiment(named: experiment) == nil, "nothing was created")
    }
}

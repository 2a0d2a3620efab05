#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow
import MLflow
import Testing
import TestSupport

/// `guardianflow train` end to end: real ultralytics on CPU, a real MLflow server, checked with
/// the official Python client. Serialized: each training uses both cores.
@Suite("guardianflow train", .mlflowServer, .serialized)
struct TrainingIntegrationTests {
    static let data = TestEnvironment.repoRoot + "/examples/ppe-sample/data.yaml"

    func env(_ server: MLflowTestServer, work: String = TestEnvironment.temporaryDirectory("train")) -> [String: String] {
        TestEnvironment.cleanEnvironment(["MLFLOW_TRACKING_URI": server.uri, "GUARDIANFLOW_WORK_DIR": work])
    }

    func trainArguments(experiment: String, epochs: Int = 2, imgsz: Int = 64, extra: [String] = []) -> [String] {
        ["train", "--experiment", experiment, "--data", Self.data, "--model", "yolov8n.yaml", "--epochs", String(epochs),
         "--batch", "8", "--imgsz", String(imgsz), "--device", "cpu", "--workers", "0"] + extra
    }

    @Test("a training is FINISHED, logged per epoch, its weights registered as candidate and loadable by ultralytics")
    func endToEnd() async throws {
        let server = try currentServer()
        let experiment = "e2e-\(UUID().uuidString.prefix(6))"
        let before = try await server.client().allExperiments().map(\.name)
        let result = try await CLI.run(
            trainArguments(
                experiment: experiment,
                extra: ["--customer", "acme", "--task", "ppe", "--tag", "site=a", "--system-metrics-interval", "1", "--json"]),
            environment: env(server), timeout: .seconds(300))
        #expect(result.exitCode == 0, "\(result.stderr.suffix(3000))")
        let output = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(Set(output.keys) == ["run_id", "status", "metrics", "model"])
        #expect(output["status"] as? String == "FINISHED")
        let model = try #require(output["model"] as? [String: Any])
        #expect(model["name"] as? String == "acme-ppe")
        #expect(model["alias"] as? String == "candidate")
        let metrics = try #require(output["metrics"] as? [String: Double])
        #expect(metrics.keys.contains("mAP50_95"))
        let runId = try #require(output["run_id"] as? String)

        let after = try await server.client().allExperiments().map(\.name)
        #expect(Set(after).subtracting(before) == [experiment])

        let check = try await Python.json(
            """
            import json, hashlib, glob, os, mlflow
            from mlflow import MlflowClient
            c = MlflowClient()
            run = c.get_run('\(runId)')
            exp = c.get_experiment_by_name('\(experiment)')
            runs = c.search_runs([exp.experiment_id])
            hist = {k: [(m.step, m.value) for m in c.get_metric_history('\(runId)', k)] for k in ['mAP50_95', 'box_loss', 'val/box_loss', 'lr/pg0']}
            system = {k: sorted((m.step, m.value) for m in c.get_metric_history('\(runId)', k)) for k in run.data.metrics if k.startswith('system/')}
            v = c.get_model_version_by_alias('acme-ppe', 'candidate')
            files = sorted(f.path for f in c.list_artifacts('\(runId)'))
            weights = sorted(f.path for f in c.list_artifacts('\(runId)', 'weights'))
            d = mlflow.artifacts.download_artifacts('models:/acme-ppe@candidate', dst_path='\(TestEnvironment.temporaryDirectory("dl"))')
            best = os.path.join(d, 'best.pt')
            sha = hashlib.sha256(open(best, 'rb').read()).hexdigest()
            from ultralytics import YOLO
            m = YOLO(best)
            print(json.dumps({'status': run.info.status, 'runs': len(runs), 'params': run.data.params, 'tags': run.data.tags,
              'hist': hist, 'system': system, 'version_run': v.run_id, 'version_tags': v.tags, 'files': files, 'weights': weights,
              'sha': sha, 'names': list(m.names.values()), 'best_metrics': {k: v for k, v in run.data.metrics.items() if k.startswith('best/') or k.startswith('sys/')}}))
            """, environment: server.pythonEnvironment.merging(["YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": TestEnvironment.temporaryDirectory("yolo")]) { _, b in b })
        let py = try #require(check as? [String: Any])
        #expect(py["status"] as? String == "FINISHED")
        #expect(py["runs"] as? Int == 1)
        let params = try #require(py["params"] as? [String: String])
        #expect(params["epochs"] == "2")
        #expect(params["imgsz"] == "64")
        #expect(params["batch"] == "8")
        #expect(params["model"]?.hasSuffix("yolov8n.yaml") == true)
        #expect(params.count > 50)
        let tags = try #require(py["tags"] as? [String: String])
        #expect(tags["customer"] == "acme")
        #expect(tags["task"] == "ppe")
        #expect(tags["site"] == "a")
        #expect(tags["mlflow.source.name"] == "guardianflow train")
        #expect(tags["mlflow.user"]?.isEmpty == false)
        #expect(tags["ultralytics.version"] == "8.4.190")
        #expect(tags["guardianflow.version"] == GuardianFlowInfo.version)
        let history = try #require(py["hist"] as? [String: [[Double]]])
        for key in ["mAP50_95", "box_loss", "val/box_loss", "lr/pg0"] {
            #expect(history[key]?.map { $0[0] } == [1, 2], "\(key): \(String(describing: history[key]))")
        }
        #expect(py["version_run"] as? String == runId)
        let versionTags = try #require(py["version_tags"] as? [String: String])
        #expect(versionTags["weights.sha256"] == py["sha"] as? String)
        #expect(versionTags["customer"] == "acme")
        #expect(versionTags["best/mAP50_95"] != nil)
        #expect(Set(try #require(py["files"] as? [String])).isSuperset(of: ["weights", "results.csv", "args.yaml", "logs", "plots", "guardianflow"]))
        #expect(py["weights"] as? [String] == ["weights/best.pt", "weights/last.pt"])
        #expect(py["names"] as? [String] == ["helmet", "vest"])
        let summary = try #require(py["best_metrics"] as? [String: Double])
        #expect(summary.keys.contains("best/mAP50_95"))
        #expect((summary["sys/model_size_mb"] ?? 0) > 1)
        #expect(summary.keys.contains("sys/inference_time_ms"))
        // System metrics under MLflow's names, sampled every second; on CPU no GPU figures and a tag saying why.
        let system = try #require(py["system"] as? [String: [[Double]]])
        for key in ["system/cpu_utilization_percentage", "system/system_memory_usage_megabytes", "system/trainer_cpu_utilization_percentage",
                    "system/trainer_memory_usage_megabytes"] {
            #expect((system[key]?.count ?? 0) >= 2, "\(key): \(system.keys.sorted())")
        }
        let steps = system["system/system_memory_usage_megabytes"]?.map { Int($0[0]) } ?? []
        #expect(steps == Array(0..<steps.count))
        #expect((system["system/trainer_memory_usage_megabytes"]?.map { $0[1] }.max() ?? 0) > 100, "python with torch is larger")
        #expect(!system.keys.contains { $0.contains("gpu") })
        #expect(!summary.keys.contains("sys/gpu_memory_used_mb"))
        #expect(tags["guardianflow.gpu_metrics"]?.hasPrefix("unavailable: the training runs on the CPU") == true,
                "\(tags["guardianflow.gpu_metrics"] ?? "-")")
    }

    @Test(
        "bad input exits 65 naming the problem, and writes nothing to MLflow",
        arguments: [
            (["--data", "/nonexistent/data.yaml"], "does not exist"),
            (["--data", "@broken"], "not valid YAML"),
            (["--data", "@notrain"], "no 'train:' key"),
            (["--data", "@nonames"], "no 'names:' key"),
            (["--data", "@missingdir"], "does not exist"),
            (["--data", "@emptydir"], "has no images"),
            (["--model", "/nonexistent/best.pt"], "does not exist"),
            (["--model", "yolov99z.yaml"], "not an ultralytics model config"),
            (["--model", "weights.onnx"], "neither a .pt"),
            (["--epochs", "0"], "--epochs"),
            (["--batch", "0"], "--batch"),
            (["--batch", "-2"], "--batch"),
            (["--imgsz", "0"], "--imgsz"),
            (["--device", "tpu"], "not a device"),
            (["--device", "0,0"], "names GPU 0 twice"),
        ])
    func badInput(override: [String], expected: String) async throws {
        let server = try currentServer()
        let dir = TestEnvironment.temporaryDirectory("bad")
        try Self.writeBadDatasets(into: dir)
        let experiment = "bad-\(UUID().uuidString.prefix(6))"
        var arguments = trainArguments(experiment: experiment)
        var i = 0
        while i < override.count {
            var value = override[i + 1]
            if value.hasPrefix("@") { value = "\(dir)/\(value.dropFirst()).yaml" }
            if let index = arguments.firstIndex(of: override[i]) { arguments[index + 1] = value } else { arguments += [override[i], value] }
            i += 2
        }
        let result = try await CLI.run(arguments, environment: env(server))
        #expect(result.exitCode == 65, "\(result.stderr)")
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(!result.stderr.contains("Traceback"))
        #expect(try await server.client().getExperiment(named: experiment) == nil)
    }

    static func writeBadDatasets(into dir: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: "\(dir)/empty/images", withIntermediateDirectories: true)
        let files: [String: String] = [
            "broken.yaml": "train: [unclosed\n",
            "notrain.yaml": "val: images/val\nnames: [a]\n",
            "nonames.yaml": "train: images/train\nval: images/val\n",
            "missingdir.yaml": "train: nowhere/train\nval: nowhere/val\nnames: [a]\n",
            "emptydir.yaml": "train: empty/images\nval: empty/images\nnames: [a]\n",
        ]
        for (name, text) in files { try text.write(toFile: "\(dir)/\(name)", atomically: true, encoding: .utf8) }
    }

    @Test("a training that fails inside ultralytics ends FAILED with the reason in tags and the log uploaded; exit 3; --json names the run")
    func failsInsideUltralytics() async throws {
        let server = try currentServer()
        let experiment = "fail-\(UUID().uuidString.prefix(6))"
        let result = try await CLI.run(
            trainArguments(experiment: experiment, extra: ["--arg", "not_an_ultralytics_arg=1", "--json"]), environment: env(server),
            timeout: .seconds(180))
        #expect(result.exitCode == 3, "\(result.stderr.suffix(2000))")
        #expect(result.stderr.contains("Training failed (config)"))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "stdout: \(result.stdout)")
        #expect(json["status"] as? String == "FAILED")
        #expect(json["model"] is NSNull)
        let error = try #require(json["error"] as? [String: Any])
        #expect(error["exit_code"] as? Int == 3)
        #expect((error["message"] as? String)?.contains("not_an_ultralytics_arg") == true)
        let client = try server.client()
        let exp = try #require(try await client.getExperiment(named: experiment))
        let runs = try await client.allRuns(experimentIds: [exp.experimentId])
        #expect(runs.count == 1)
        let run = try #require(runs.first)
        #expect(json["run_id"] as? String == run.info.runId)
        #expect(run.info.status == .failed)
        #expect(run.tags["guardianflow.error.kind"] == "config")
        #expect(run.tags["guardianflow.error.message"]?.contains("not_an_ultralytics_arg") == true)
        let files = try await client.listArtifacts(runId: run.info.runId, path: "logs")
        #expect(files.map(\.path) == ["logs/train.log"])
        #expect(try await client.getRegisteredModel(name: experiment) == nil)
    }

    @Test("SIGTERM mid-training: run KILLED, last.pt kept, exit 143 within 10 s, no trainer left; then --resume finishes it")
    func sigtermThenResume() async throws {
        let server = try currentServer()
        let experiment = "kill-\(UUID().uuidString.prefix(6))"
        let environment = env(server)
        let child = try ChildProcess.spawn(
            ProcessSpec(
                executable: TestEnvironment.executable,
                arguments: trainArguments(experiment: experiment, epochs: 40, imgsz: 128, extra: ["--arg", "plots=false"]),
                environment: environment, stdout: .null, stderr: .pipe, grouping: .newGroup))
        defer { child.signal(SIGKILL) }
        var lines = ChildProcess.lines(of: child.stderr!).makeAsyncIterator()
        var seen: [String] = []
        while let line = await lines.next() {
            seen.append(line)
            if line.contains("epoch 2/40") { break }
        }
        #expect(seen.contains { $0.contains("epoch 2/40") }, "\(seen.suffix(20))")
        let runId = try #require(seen.compactMap { Self.runId(in: $0) }.first)
        let sent = ContinuousClock.now
        kill(child.pid, SIGTERM)
        let exit = await child.waitForExit()
        let took = ContinuousClock.now - sent
        #expect(exit == .exited(143))
        #expect(took < .seconds(10))
        while let line = await lines.next() { seen.append(line) }
        #expect(seen.joined(separator: "\n").contains("--resume \(runId)"))
        #expect(Self.processesMentioning(runId).isEmpty, "trainer still alive: \(Self.processesMentioning(runId))")

        let client = try server.client()
        let killed = try await client.getRun(id: runId)
        #expect(killed.info.status == .killed)
        #expect(killed.tags["guardianflow.error.kind"] == "interrupted")
        let weights = try await client.listArtifacts(runId: runId, path: "weights")
        #expect(weights.map(\.path).contains("weights/last.pt"))
        let loggedBefore = try await client.metricHistory(runId: runId, key: "mAP50_95").map(\.step)
        #expect(loggedBefore.count >= 2)

        // Resume on a machine that does not have the files: last.pt comes from the artifacts.
        var resumeEnv = environment
        resumeEnv["GUARDIANFLOW_WORK_DIR"] = TestEnvironment.temporaryDirectory("resume")
        let resumed = try await CLI.run(["train", "--resume", runId, "--json"], environment: resumeEnv, timeout: .seconds(600))
        #expect(resumed.exitCode == 0, "\(resumed.stderr.suffix(3000))")
        #expect(resumed.stderr.contains("Downloading last.pt"))
        let finished = try await client.getRun(id: runId)
        #expect(finished.info.status == .finished)
        let steps = try await client.metricHistory(runId: runId, key: "mAP50_95").map(\.step)
        #expect(steps == Array(Set(steps)).sorted(), "each epoch exactly once: \(steps)")
        #expect(steps.last == 40)
        #expect(Set(steps).isSuperset(of: Set(loggedBefore)))
        let runs = try await client.allRuns(experimentIds: [killed.info.experimentId])
        #expect(runs.count == 1)
        #expect(try await client.modelVersion(name: experiment, alias: "candidate")?.runId == runId)
    }

    @Test("guardianflow killed with SIGKILL: its trainer does not outlive it; `runs reap` ends the zombie run KILLED")
    func sigkillTakesTheTrainer() async throws {
        let server = try currentServer()
        let work = TestEnvironment.temporaryDirectory("sigkill")
        let child = try ChildProcess.spawn(
            ProcessSpec(
                executable: TestEnvironment.executable,
                arguments: trainArguments(experiment: "sigkill-\(UUID().uuidString.prefix(6))", epochs: 40, imgsz: 128, extra: ["--arg", "plots=false"]),
                environment: env(server, work: work), stdout: .null, stderr: .pipe, grouping: .newGroup))
        defer { child.signal(SIGKILL) }
        var lines = ChildProcess.lines(of: child.stderr!).makeAsyncIterator()
        var runId: String?
        while let line = await lines.next() {
            runId = runId ?? Self.runId(in: line)
            if line.contains("epoch 1/40") { break }
        }
        let id = try #require(runId)
        #expect(!Self.processesMentioning(id).isEmpty)
        #expect(FileManager.default.fileExists(atPath: "\(work)/leases/\(id).json"))
        kill(child.pid, SIGKILL)
        _ = await child.waitForExit()
        var left = Self.processesMentioning(id)
        for _ in 0..<50 where !left.isEmpty {
            try await Task.sleep(for: .milliseconds(100))
            left = Self.processesMentioning(id)
        }
        #expect(left.isEmpty, "trainer outlived guardianflow: \(left)")
        #expect(try await server.client().getRun(id: id).info.status == .running, "a SIGKILL leaves the run RUNNING")

        // doctor points at it.
        func leftovers() async throws -> [String: Any] {
            let doctor = try await CLI.run(["doctor", "--json"], environment: env(server, work: work), timeout: .seconds(120))
            let checks = try #require(try JSONSerialization.jsonObject(with: Data(doctor.stdout.utf8)) as? [[String: Any]], "\(doctor.stderr)")
            return try #require(checks.first { $0["name"] as? String == "journals, leases" })
        }
        let before = try await leftovers()
        #expect(before["outcome"] as? String == "warning")
        #expect((before["detail"] as? String)?.contains(id) == true, "\(before)")
        #expect((before["fix"] as? String)?.contains("guardianflow runs reap") == true)

        // The zombie is found by its lease and ended KILLED.
        let reap = try await CLI.run(["runs", "reap", "--json"], environment: env(server, work: work), timeout: .seconds(120))
        #expect(reap.exitCode == 0, "\(reap.stderr)")
        let outcomes = try #require(try JSONSerialization.jsonObject(with: Data(reap.stdout.utf8)) as? [[String: Any]])
        let mine = try #require(outcomes.first { $0["runId"] as? String == id }, "\(reap.stdout)")
        #expect(mine["action"] as? String == "reaped")
        let check = try await Python.json(
            """
            import json
            from mlflow import MlflowClient
            r = MlflowClient().get_run('\(id)')
            print(json.dumps({'status': r.info.status, 'tags': r.data.tags, 'end': r.info.end_time}))
            """, environment: server.pythonEnvironment)
        let py = try #require(check as? [String: Any])
        #expect(py["status"] as? String == "KILLED")
        let tags = try #require(py["tags"] as? [String: String])
        #expect(tags["guardianflow.reaped"] == "true")
        #expect(tags["guardianflow.reaped_by"]?.isEmpty == false)
        #expect(tags["guardianflow.error.message"]?.contains("pid \(child.pid)") == true, "\(tags["guardianflow.error.message"] ?? "-")")
        #expect(!FileManager.default.fileExists(atPath: "\(work)/leases/\(id).json"))
        #expect(try await leftovers()["outcome"] as? String == "ok")
        // Nothing left to do: a second reap finds nothing.
        let again = try await CLI.run(["runs", "reap", "--json"], environment: env(server, work: work), timeout: .seconds(60))
        #expect(again.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "[]", "\(again.stdout)")
    }

    @Test("resume refuses a FINISHED run and an unknown run with exit 6")
    func resumeRefusals() async throws {
        let server = try currentServer()
        let client = try server.client()
        let experiment = try await client.getOrCreateExperiment(named: "refuse-\(UUID().uuidString.prefix(6))")
        let run = try await client.createRun(experimentId: experiment.experimentId)
        try await client.updateRun(runId: run.runId, status: .finished)
        let finished = try await CLI.run(["train", "--resume", run.runId], environment: env(server))
        #expect(finished.exitCode == 6)
        #expect(finished.stderr.contains("already FINISHED"))
        let unknown = try await CLI.run(["train", "--resume", "0123456789abcdef0123456789abcdef"], environment: env(server))
        #expect(unknown.exitCode == 6)
        #expect(unknown.stderr.contains("no run"))
    }

    static func runId(in line: String) -> String? {
        guard let range = line.range(of: #"Run [0-9a-f]{32}"#, options: .regularExpression) else { return nil }
        return String(line[range].dropFirst(4))
    }

    /// Live processes whose command line mentions `text`.
    static func processesMentioning(_ text: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> String? in
            guard Int32(entry) != nil,
                let raw = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8), !stat.contains(") Z ")
            else { return nil }
            let cmdline = String(decoding: raw.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return cmdline.contains(text) ? "\(entry): \(cmdline)" : nil
        }
    }
}

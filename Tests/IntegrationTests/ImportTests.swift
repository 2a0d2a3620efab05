import Foundation
import GuardianFlow
import MLflow
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `guardianflow import` on run folders that real ultralytics trainings left (made here by
/// Tests/Fixtures/yolo_runs.py: no guardianflow involved), on the older formats rewritten from
/// them, and on generated folders; every result read back with the official MLflow client.
@Suite("Import: existing run folders into MLflow, once", .mlflowServer, .serialized)
struct ImportTests {
    static let fixture = TestEnvironment.repoRoot + "/Tests/Fixtures/yolo_runs.py"
    static let generator = TestEnvironment.repoRoot + "/Tests/Fixtures/run_folders.py"

    /// One finished training (2 epochs, plots on), made once for the suite.
    static let finished = Task<String, any Error> {
        let project = TestEnvironment.temporaryDirectory("yolo-runs")
        try await yolo(["finished", project, "train", "--epochs", "2"], project: project)
        return project + "/train"
    }

    static func yolo(_ arguments: [String], project: String) async throws {
        let result = try await ChildProcess.run(
            TestEnvironment.python, [fixture] + arguments,
            environment: TestEnvironment.cleanEnvironment(["YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": project + "/.ultralytics"]),
            workingDirectory: project, timeout: .seconds(600))
        guard result.exit.succeeded else {
            throw Python.Failure(
                description: "yolo_runs.py \(arguments.joined(separator: " ")) failed (\(result.exit)): \(result.stderr.suffix(3000))")
        }
    }

    func env(_ server: MLflowTestServer, work: String? = nil) -> [String: String] {
        TestEnvironment.cleanEnvironment([
            "MLFLOW_TRACKING_URI": server.uri, "GUARDIANFLOW_WORK_DIR": work ?? TestEnvironment.temporaryDirectory("import-work"),
            "YOLO_OFFLINE": "1",
        ])
    }

    func importing(_ arguments: [String], _ server: MLflowTestServer, work: String? = nil) async throws -> (CLI.Result, [String: Any]) {
        let result = try await CLI.run(["import"] + arguments + ["--json"], environment: env(server, work: work), timeout: .seconds(300))
        let json = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]) ?? [:]
        return (result, json)
    }

    static func results(_ json: [String: Any]) -> [[String: Any]] { json["runs"] as? [[String: Any]] ?? [] }

    /// What the official client reads of a run: info, params, tags, every metric's history, the artifacts.
    func readBack(_ runId: String, _ server: MLflowTestServer, metrics: [String]) async throws -> [String: Any] {
        let out = try await Python.json(
            """
            import json
            from mlflow import MlflowClient
            c = MlflowClient()
            r = c.get_run('\(runId)')
            def files(path=None):
                out = []
                for f in c.list_artifacts(r.info.run_id, path):
                    out += files(f.path) if f.is_dir else [f.path]
                return out
            history = {k: [[m.step, m.timestamp, m.value] for m in c.get_metric_history(r.info.run_id, k)] for k in \(metrics)}
            print(json.dumps({'status': r.info.status, 'start': r.info.start_time, 'end': r.info.end_time, 'name': r.info.run_name,
                              'params': r.data.params, 'tags': r.data.tags, 'metrics': sorted(r.data.metrics), 'history': history,
                              'files': sorted(files())}))
            """, environment: server.pythonEnvironment)
        return try #require(out as? [String: Any])
    }

    func runCount(_ experiment: String, _ server: MLflowTestServer) async throws -> Int {
        let client = try server.client()
        guard let found = try await client.getExperiment(named: experiment) else { return 0 }
        return try await client.allRuns(experimentIds: [found.experimentId], viewType: .activeOnly).count
    }

    static func modified(_ path: String) throws -> Int64 {
        let date = try #require(try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date)
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    @Test(
        "a finished training: params, metric history and steps, its own times, FINISHED, artifacts ultralytics loads, a version; again: nothing; copied or moved: the same run"
    )
    func finishedRun() async throws {
        let server = try currentServer()
        let folder = try await Self.finished.value
        let experiment = "import-\(UUID().uuidString.prefix(6))"
        let argsWritten = try Self.modified(folder + "/args.yaml")
        let (result, json) = try await importing(
            [folder, "--experiment", experiment, "--register", "--customer", "acme", "--task", "ppe"], server)
        #expect(result.exitCode == 0, "\(result.stderr.suffix(2000))")
        let runs = Self.results(json)
        try #require(runs.count == 1, "\(result.stdout)")
        #expect(runs[0]["result"] as? String == "created")
        #expect(runs[0]["status"] as? String == "FINISHED")
        #expect(runs[0]["epochs_written"] as? Int == 2)
        #expect((runs[0]["model"] as? [String: String])?["version"] == "1")
        let runId = try #require(runs[0]["run_id"] as? String)

        let read = try await readBack(runId, server, metrics: ["mAP50_95", "box_loss", "lr/pg0", "val/cls_loss"])
        #expect(read["status"] as? String == "FINISHED")
        #expect(read["name"] as? String == "train")
        // Dated when it trained: args.yaml's time to the end of the stripped checkpoint.
        let checkpoint = try await Python.json(
            """
            import json, torch, datetime
            c = torch.load('\(folder)/weights/last.pt', map_location='cpu', weights_only=False)
            print(json.dumps({'end': int(round(datetime.datetime.fromisoformat(c['date']).timestamp() * 1000)), 'epoch': c['epoch']}))
            """)
        let ckpt = try #require(checkpoint as? [String: Any])
        #expect(ckpt["epoch"] as? Int == -1, "ultralytics stripped it")
        #expect((read["start"] as? Int).map(Int64.init) == argsWritten, "the start is when args.yaml was written")
        #expect((read["end"] as? Int) == ckpt["end"] as? Int, "the end is the stripped checkpoint's date")
        let tags = try #require(read["tags"] as? [String: String])
        #expect(tags[ImportTags.times] == "start: args.yaml; end: checkpoint date; epochs: time column")
        #expect(tags[ImportTags.state] == "complete")
        #expect(tags["customer"] == "acme" && tags["model_arch"] == "yolov8n.yaml" && tags["ultralytics.version"] != nil)
        #expect(tags["guardianflow.model_version"] == "1")

        // Params: args.yaml, each as Python's str() of its value.
        let params = try #require(read["params"] as? [String: String])
        let expectedParams = try await Python.json(
            """
            import json, yaml
            print(json.dumps({k: str(v) for k, v in yaml.safe_load(open('\(folder)/args.yaml')).items()}))
            """)
        #expect(params == expectedParams as? [String: String])

        // Metrics: every row of results.csv at its epoch, timed by its time column.
        let csv = try String(contentsOfFile: folder + "/results.csv", encoding: .utf8)
        let table = try ResultsTable(text: csv, file: "results.csv", format: .ultralytics)
        let history = try #require(read["history"] as? [String: [[Double]]])
        for (key, column) in [
            ("mAP50_95", "metrics/mAP50-95(B)"), ("box_loss", "train/box_loss"), ("lr/pg0", "lr/pg0"), ("val/cls_loss", "val/cls_loss"),
        ] {
            let points = try #require(history[key])
            #expect(points.map { Int($0[0]) } == [1, 2], "\(key): steps are the 1-based epochs")
            #expect(points.map { $0[2] } == table.rows.map { $0.values[column]! }, "\(key): the values of \(column)")
        }
        let stamps = try #require(history["mAP50_95"]).map { Int64($0[1]) }
        #expect(stamps == table.rows.map { argsWritten + Int64((($0.time ?? 0) * 1000).rounded()) }, "args.yaml's time + the time column")
        let metricNames = Set(read["metrics"] as? [String] ?? [])
        #expect(
            metricNames.isSuperset(of: ["mAP50", "mAP50_95", "precision", "recall", "box_loss", "cls_loss", "dfl_loss", "best/mAP50_95"]))

        // Artifacts as train uploads them; ultralytics loads the stored best.pt.
        let files = Set(read["files"] as? [String] ?? [])
        #expect(
            files.isSuperset(of: [
                "weights/best.pt", "weights/last.pt", "results.csv", "args.yaml", "plots/results.png", "guardianflow/manifest.json",
            ]), "\(files)")
        let loaded = try await Python.json(
            """
            import json, tempfile, hashlib, mlflow
            from mlflow import MlflowClient
            from ultralytics import YOLO
            d = tempfile.mkdtemp()
            p = mlflow.artifacts.download_artifacts(run_id='\(runId)', artifact_path='weights/best.pt', dst_path=d)
            m = YOLO(p)
            v = MlflowClient().get_model_version('acme-ppe', '1')
            rm = MlflowClient().get_registered_model('acme-ppe')
            print(json.dumps({'names': list(m.names.values()), 'sha': hashlib.sha256(open(p, 'rb').read()).hexdigest(),
                              'version_sha': v.tags.get('weights.sha256'), 'aliases': rm.aliases, 'arch': v.tags.get('model_arch'),
                              'best': v.tags.get('best/mAP50_95'), 'run': v.run_id}))
            """, environment: server.pythonEnvironment)
        let model = try #require(loaded as? [String: Any])
        #expect(model["names"] as? [String] == ["helmet", "vest"])
        #expect(model["sha"] as? String == model["version_sha"] as? String)
        #expect((model["aliases"] as? [String: Any])?.isEmpty == true, "import moves no alias")
        #expect(model["arch"] as? String == "yolov8n.yaml" && model["best"] != nil && model["run"] as? String == runId)

        // Again: nothing created, and it says so.
        let (again, againJSON) = try await importing([folder, "--experiment", experiment, "--register"], server)
        #expect(again.exitCode == 0)
        #expect(Self.results(againJSON).map { $0["result"] as? String } == ["unchanged"])
        #expect(again.stderr.contains("Nothing to import"), "\(again.stderr)")
        #expect(try await runCount(experiment, server) == 1)

        // A copy elsewhere (times not kept) and a moved copy are the same run.
        let elsewhere = TestEnvironment.temporaryDirectory("copied")
        let copy = try await ChildProcess.run("/bin/cp", ["-R", folder, elsewhere + "/renamed"])
        #expect(copy.exit.succeeded)
        let (copied, copiedJSON) = try await importing([elsewhere, "--experiment", experiment], server)
        #expect(copied.exitCode == 0)
        #expect(Self.results(copiedJSON).map { $0["run_id"] as? String } == [runId])
        #expect(Self.results(copiedJSON).map { $0["result"] as? String } == ["unchanged"])
        try FileManager.default.moveItem(atPath: elsewhere + "/renamed", toPath: elsewhere + "/moved")
        let (moved, movedJSON) = try await importing([elsewhere + "/moved", "--experiment", experiment], server)
        #expect(moved.exitCode == 0)
        #expect(Self.results(movedJSON).map { $0["result"] as? String } == ["unchanged"])
        #expect(try await runCount(experiment, server) == 1)

        // The survey finds it imported, and writes nothing.
        let survey = try await CLI.run(["import", elsewhere, "--dry-run", "--json"], environment: env(server))
        #expect(survey.exitCode == 0, "\(survey.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(survey.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 1)
        #expect(rows.first?["imported_as"] as? String == runId)
        #expect(
            rows.first?["status"] as? String == "FINISHED" && rows.first?["epochs"] as? Int == 2
                && rows.first?["planned_epochs"] as? Int == 2)
        #expect(rows.first?["format"] as? String == "ultralytics" && rows.first?["task"] as? String == "detect")
        #expect(try await runCount(experiment, server) == 1)
    }

    @Test("interrupted mid-training: KILLED with its epochs; resumed later and imported again: only the new epoch appended, FINISHED")
    func interruptedThenGrown() async throws {
        let server = try currentServer()
        let project = TestEnvironment.temporaryDirectory("yolo-int")
        try await Self.yolo(["interrupted", project, "int", "--epochs", "3", "--stop-after", "2"], project: project)
        let folder = project + "/int"
        let experiment = "import-int-\(UUID().uuidString.prefix(6))"

        let survey = try await CLI.run(["import", folder, "--dry-run", "--json"], environment: env(server))
        let rows = try JSONSerialization.jsonObject(with: Data(survey.stdout.utf8)) as? [[String: Any]]
        #expect(rows?.first?["status"] as? String == "KILLED")
        #expect((rows?.first?["status_reason"] as? String)?.contains("last.pt still holds its optimizer") == true, "\(rows ?? [])")

        let (first, firstJSON) = try await importing([folder, "--experiment", experiment, "--register"], server)
        #expect(first.exitCode == 0, "\(first.stderr)")
        let runId = try #require(Self.results(firstJSON).first?["run_id"] as? String)
        var read = try await readBack(runId, server, metrics: ["mAP50_95"])
        #expect(read["status"] as? String == "KILLED")
        #expect((read["history"] as? [String: [[Double]]])?["mAP50_95"]?.map { Int($0[0]) } == [1, 2])
        #expect((read["tags"] as? [String: String])?["guardianflow.model_version"] == nil, "a KILLED run is not registered")
        #expect(Set(read["files"] as? [String] ?? []).contains("weights/last.pt"), "last.pt is there to resume from")
        let firstEnd = try #require(read["end"] as? Int)

        // `yolo train resume`: the folder grows by epoch 3 (its time column starts again).
        try await Self.yolo(["resume", folder], project: project)
        let (second, secondJSON) = try await importing([folder, "--experiment", experiment, "--register"], server)
        #expect(second.exitCode == 0, "\(second.stderr)")
        let again = try #require(Self.results(secondJSON).first)
        #expect(again["result"] as? String == "appended")
        #expect(again["run_id"] as? String == runId)
        #expect(again["epochs_written"] as? Int == 1)
        read = try await readBack(runId, server, metrics: ["mAP50_95", "box_loss"])
        #expect(read["status"] as? String == "FINISHED")
        let history = try #require(read["history"] as? [String: [[Double]]])
        #expect(history["mAP50_95"]?.map { Int($0[0]) } == [1, 2, 3], "each epoch once")
        #expect(history["box_loss"]?.map { Int($0[0]) } == [1, 2, 3])
        let stamps = history["mAP50_95"]?.map { Int64($0[1]) } ?? []
        #expect(stamps == stamps.sorted(), "timestamps in epoch order across the resume: \(stamps)")
        #expect((read["end"] as? Int ?? 0) > firstEnd)
        #expect((read["tags"] as? [String: String])?["guardianflow.model_version"] != nil, "registered once FINISHED")
        #expect(try await runCount(experiment, server) == 1)
    }

    @Test("older formats: padded results.csv without time (≤ 8.3.8) and YOLOv5's layout with 0-based epochs")
    func olderFormats() async throws {
        let server = try currentServer()
        let finished = try await Self.finished.value
        let root = TestEnvironment.temporaryDirectory("old-formats")
        let padded = root + "/padded"
        #expect(try await ChildProcess.run("/bin/cp", ["-Rp", finished, padded]).exit.succeeded)
        try await Self.yolo(["old-format", padded], project: root)
        try await Self.yolo(["yolov5", finished, root + "/v5exp"], project: root)
        let experiment = "import-old-\(UUID().uuidString.prefix(6))"
        let (result, json) = try await importing([root, "--experiment", experiment], server)
        #expect(result.exitCode == 0, "\(result.stderr)")
        let byPath = Dictionary(uniqueKeysWithValues: Self.results(json).map { ($0["path"] as? String ?? "", $0) })
        let original = try ResultsTable(
            text: try String(contentsOfFile: finished + "/results.csv", encoding: .utf8), file: "results.csv", format: .ultralytics)

        let paddedRun = try #require(byPath[padded]?["run_id"] as? String, "\(json)")
        var read = try await readBack(paddedRun, server, metrics: ["mAP50", "box_loss"])
        var history = try #require(read["history"] as? [String: [[Double]]])
        #expect(history["mAP50"]?.map { Int($0[0]) } == [1, 2])
        #expect(history["box_loss"]?.map { $0[2] } == original.rows.map { Double(String(format: "%.5g", $0.values["train/box_loss"]!!))! })
        var tags = try #require(read["tags"] as? [String: String])
        #expect(tags[ImportTags.times]?.hasSuffix("epochs: interpolated") == true, "\(tags[ImportTags.times] ?? "")")
        #expect(tags["ultralytics.version"] == "8.4.190" || tags["ultralytics.version"]?.hasPrefix("8.") == true)
        #expect(read["status"] as? String == "FINISHED")
        let start = try #require(read["start"] as? Int)
        let end = try #require(read["end"] as? Int)
        let paddedStamps = history["mAP50"]?.map { Int($0[1]) } ?? []
        #expect(
            paddedStamps.allSatisfy { $0 > start && $0 <= end } && paddedStamps.last == end, "spread between start and end: \(paddedStamps)"
        )

        let v5Run = try #require(byPath[root + "/v5exp"]?["run_id"] as? String, "\(json)")
        read = try await readBack(v5Run, server, metrics: ["mAP50", "mAP50_95", "obj_loss", "lr/pg0"])
        history = try #require(read["history"] as? [String: [[Double]]])
        #expect(history["mAP50"]?.map { Int($0[0]) } == [1, 2], "YOLOv5's epochs 0 and 1 are steps 1 and 2")
        #expect(history["mAP50_95"]?.count == 2 && history["obj_loss"]?.count == 2 && history["lr/pg0"]?.count == 2, "\(history.keys)")
        tags = try #require(read["tags"] as? [String: String])
        #expect(tags[ImportTags.format] == "yolov5")
        let params = try #require(read["params"] as? [String: String])
        #expect(
            params["batch_size"] == "16" && params["lr0"] != nil && params["cfg"] == "models/yolov5n.yaml",
            "opt.yaml and hyp.yaml: \(params)")
        #expect(Set(read["files"] as? [String] ?? []).isSuperset(of: ["opt.yaml", "hyp.yaml", "results.csv", "weights/best.pt"]))
    }

    @Test(
        "bad input: a missing PATH or one with no run is refused (65) with nothing created; a damaged folder is skipped (8), the others imported"
    )
    func badInput() async throws {
        let server = try currentServer()
        let experiment = "import-bad-\(UUID().uuidString.prefix(6))"
        let missing = try await CLI.run(["import", "/nonexistent/runs", "--experiment", experiment], environment: env(server))
        #expect(missing.exitCode == 65)
        #expect(missing.stderr.contains("/nonexistent/runs does not exist"), "\(missing.stderr)")
        let empty = TestEnvironment.temporaryDirectory("no-runs")
        try "hello".write(toFile: empty + "/notes.txt", atomically: true, encoding: .utf8)
        let none = try await CLI.run(["import", empty, "--experiment", experiment], environment: env(server))
        #expect(none.exitCode == 65)
        #expect(none.stderr.contains("No run found") && none.stderr.contains("args.yaml"), "\(none.stderr)")
        let noExperiment = try await CLI.run(["import", empty], environment: env(server))
        #expect(noExperiment.exitCode == 64 && noExperiment.stderr.contains("--experiment"), "\(noExperiment.stderr)")

        let root = TestEnvironment.temporaryDirectory("damaged")
        let generated = try await ChildProcess.run(TestEnvironment.python, [Self.generator, root, "--runs", "3", "--epochs", "5"])
        #expect(generated.exit.succeeded, "\(generated.stderr)")
        try "epoch,time,metrics/mAP50(B)\n1,2,0.1\n2,3\n".write(toFile: root + "/train2/results.csv", atomically: true, encoding: .utf8)
        try "epochs: [unclosed\n".write(toFile: root + "/train3/args.yaml", atomically: true, encoding: .utf8)

        // Only damaged ones: refused, and not even the experiment is made.
        let onlyDamaged = try await CLI.run(
            ["import", root + "/train2", root + "/train3", "--experiment", experiment], environment: env(server))
        #expect(onlyDamaged.exitCode == 65, "\(onlyDamaged.stderr)")
        #expect(try await server.client().getExperiment(named: experiment) == nil, "no experiment for bad input")

        let (result, json) = try await importing([root, "--experiment", experiment], server)
        #expect(result.exitCode == 8, "some were skipped: \(result.stderr)")
        #expect(result.stderr.contains("train2/results.csv, line 3: 2 values for 3 columns"), "\(result.stderr)")
        #expect(result.stderr.contains("train3/args.yaml is not valid YAML"), "\(result.stderr)")
        let outcomes = Dictionary(
            uniqueKeysWithValues: Self.results(json).map { (($0["path"] as? String ?? "") as NSString).lastPathComponent }
                .enumerated().map { ($1, Self.results(json)[$0]["result"] as? String ?? "") })
        #expect(outcomes == ["train": "created", "train2": "skipped", "train3": "skipped"])
        #expect(try await runCount(experiment, server) == 1, "a run appears only once its files were parsed")
    }

    @Test(
        "two imports of the same folders at once leave one run each; an import stopped midway (SIGTERM) leaves no run RUNNING, and the next completes it"
    )
    func concurrencyAndInterruption() async throws {
        let server = try currentServer()
        let root = TestEnvironment.temporaryDirectory("many-runs")
        let generated = try await ChildProcess.run(TestEnvironment.python, [Self.generator, root, "--runs", "12", "--epochs", "100"])
        #expect(generated.exit.succeeded, "\(generated.stderr)")
        let work = TestEnvironment.temporaryDirectory("import-work")

        let experiment = "import-race-\(UUID().uuidString.prefix(6))"
        async let a = importing([root, "--experiment", experiment, "--no-artifacts"], server, work: work)
        async let b = importing([root, "--experiment", experiment, "--no-artifacts"], server, work: work)
        let (first, second) = try await (a, b)
        #expect(first.0.exitCode == 0 && second.0.exitCode == 0, "\(first.0.stderr)\n\(second.0.stderr)")
        let outcomes = (Self.results(first.1) + Self.results(second.1)).compactMap { $0["result"] as? String }
        #expect(outcomes.filter { $0 == "created" }.count == 12, "each folder created once: \(outcomes)")
        #expect(outcomes.filter { $0 == "unchanged" }.count == 12)
        #expect(try await runCount(experiment, server) == 12)

        // Stopped while it imports: no run RUNNING, the partial one completed by the next import.
        let stopped = "import-stop-\(UUID().uuidString.prefix(6))"
        let child = try CLIChild(
            ["import", root, "--experiment", stopped, "--jobs", "1", "--no-artifacts"], environment: env(server, work: work))
        try await child.waitFor("[2/12]", timeout: .seconds(120))
        child.process.signal(SIGTERM, group: false)
        let end = await child.finish()
        #expect(end.exit == .exited(143), "\(end.stderr)")
        #expect(end.stderr.contains("Import stopped"), "\(end.stderr)")
        let client = try server.client()
        let experimentId = try #require(try await client.getExperiment(named: stopped)?.experimentId)
        let left = try await client.allRuns(experimentIds: [experimentId])
        #expect(!left.contains { $0.info.status == .running }, "never left RUNNING: \(left.map { ($0.info.runName, $0.info.status) })")
        let partial = left.filter { $0.tags[ImportTags.state] == "partial" }
        #expect(partial.allSatisfy { $0.info.status == .killed })

        let (completed, completedJSON) = try await importing([root, "--experiment", stopped, "--no-artifacts"], server, work: work)
        #expect(completed.exitCode == 0, "\(completed.stderr)")
        let results = Self.results(completedJSON).compactMap { $0["result"] as? String }
        #expect(results.filter { $0 == "replaced" }.count == partial.count, "\(results), \(partial.count) partial")
        let all = try await client.allRuns(experimentIds: [experimentId])
        #expect(all.count == 12)
        #expect(Set(all.compactMap { $0.tags[ImportTags.origin] }).count == 12, "one run per folder")
        #expect(all.allSatisfy { $0.tags[ImportTags.state] == "complete" && $0.info.status == .finished })
    }
}

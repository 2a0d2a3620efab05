import Foundation
import MLflow
import Testing
import TestSupport

/// Every endpoint of the Swift client against a real `mlflow server`, cross-checked with the
/// official Python client.
@Suite("MLflow client against a real server", .mlflowServer)
struct MLflowClientIntegrationTests {
    func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8))" }

    @Test("probes: /health and /version")
    func probes() async throws {
        let client = try currentServer().client()
        #expect(try await client.health())
        #expect(try await client.serverVersion() == "3.17.2")
    }

    @Test("experiments: create, get by name and id, tag, race-safe get-or-create, restore a deleted one, paged search")
    func experiments() async throws {
        let server = try currentServer()
        let client = try server.client()
        let name = unique("exp")
        #expect(try await client.getExperiment(named: name) == nil)
        let created = try await client.getOrCreateExperiment(named: name)
        #expect(created.name == name)
        #expect(created.artifactLocation.hasPrefix("mlflow-artifacts:/"))
        // Twelve concurrent get-or-creates of one new name all get the same experiment.
        let racing = unique("race")
        let ids = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<12 { group.addTask { try await client.getOrCreateExperiment(named: racing).experimentId } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(ids.count == 1)
        try await client.setExperimentTag(experimentId: created.experimentId, key: "team", value: "safety")
        #expect(try await client.getExperiment(id: created.experimentId).tags["team"] == "safety")

        // Deleted by the Python client, restored by get-or-create.
        _ = try await Python.run(
            "import mlflow; mlflow.MlflowClient().delete_experiment('\(created.experimentId)')",
            environment: server.pythonEnvironment)
        #expect(try await client.getExperiment(named: name)?.isDeleted == true)
        let restored = try await client.getOrCreateExperiment(named: name)
        #expect(restored.experimentId == created.experimentId)
        #expect(!restored.isDeleted)

        for i in 0..<5 { _ = try await client.createExperiment(named: unique("page\(i)")) }
        var seen: [String] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try await client.searchExperiments(maxResults: 2, pageToken: token)
            #expect(page.experiments.count <= 2)
            seen += page.experiments.map(\.name)
            token = page.nextPageToken
            pages += 1
        } while token != nil
        #expect(pages >= 3)
        #expect(Set(seen) == Set(try await client.allExperiments().map(\.name)))
    }

    @Test("runs: what Swift logs, the Python client reads back exactly")
    func swiftWritesPythonReads() async throws {
        let server = try currentServer()
        let client = try server.client()
        let experiment = try await client.getOrCreateExperiment(named: unique("runs"))
        let run = try await client.createRun(
            experimentId: experiment.experimentId, runName: "swift-run", startTime: 1_700_000_000_000,
            tags: ["customer": "acme", "mlflow.user": "ci"])
        #expect(run.status == .running)
        let params = (0..<130).map { KeyValue(key: "p\($0)", value: "value \($0)") } + [KeyValue(key: "long", value: String(repeating: "x", count: 7000))]
        var metrics: [Metric] = []
        for step in 1...30 {
            for key in ["mAP50", "mAP50_95", "box_loss"] {
                metrics.append(Metric(key: key, value: Double(step) / 100 + (key == "box_loss" ? 1 : 0), timestamp: 1_700_000_000_000 + Int64(step), step: Int64(step)))
            }
        }
        metrics.append(Metric(key: "mAP50", value: .nan, timestamp: 1, step: 99))
        try await client.logBatch(runId: run.runId, metrics: metrics, params: params, tags: [KeyValue(key: "task", value: "ppe")])
        try await client.setTag(runId: run.runId, key: "note", value: "hello")
        try await client.updateRun(runId: run.runId, status: .finished, endTime: 1_700_000_100_000)

        let got = try await client.getRun(id: run.runId)
        #expect(got.info.status == .finished)
        #expect(got.params.count == 131)
        #expect(got.tags["customer"] == "acme")
        let history = try await client.metricHistory(runId: run.runId, key: "mAP50")
        #expect(history.map(\.step) == Array(1...30).map(Int64.init))

        let out = try await Python.json(
            """
            import json, mlflow
            c = mlflow.MlflowClient()
            r = c.get_run('\(run.runId)')
            h = c.get_metric_history('\(run.runId)', 'mAP50')
            print(json.dumps({'status': r.info.status, 'name': r.info.run_name, 'params': r.data.params,
              'tags': {k: v for k, v in r.data.tags.items()}, 'end': r.info.end_time,
              'history': [[m.step, m.value, m.timestamp] for m in h]}))
            """, environment: server.pythonEnvironment)
        let result = try #require(out as? [String: Any])
        #expect(result["status"] as? String == "FINISHED")
        #expect(result["name"] as? String == "swift-run")
        #expect(result["end"] as? Int == 1_700_000_100_000)
        let pyParams = try #require(result["params"] as? [String: String])
        #expect(pyParams.count == 131)
        #expect(pyParams["p7"] == "value 7")
        #expect(pyParams["long"]?.count == 6000)
        let pyTags = try #require(result["tags"] as? [String: String])
        #expect(pyTags["task"] == "ppe")
        #expect(pyTags["note"] == "hello")
        let pyHistory = try #require(result["history"] as? [[Double]])
        #expect(pyHistory.count == 30)
        #expect(pyHistory.first == [1, 0.01, 1_700_000_000_001])
        #expect(pyHistory.last == [30, 0.3, 1_700_000_000_030])

        let found = try await client.allRuns(experimentIds: [experiment.experimentId], filter: "tags.customer = 'acme'")
        #expect(found.map(\.info.runId) == [run.runId])
    }

    @Test("what the Python client writes, Swift reads back: runs, models, versions, aliases")
    func pythonWritesSwiftReads() async throws {
        let server = try currentServer()
        let client = try server.client()
        let model = unique("pymodel")
        let out = try await Python.json(
            """
            import json, mlflow, tempfile, os
            mlflow.set_experiment('\(model)-exp')
            with mlflow.start_run(run_name='py-run') as run:
                mlflow.log_param('epochs', '3')
                for s in range(1, 4): mlflow.log_metric('mAP50', s / 10, step=s)
                d = tempfile.mkdtemp(); p = os.path.join(d, 'best.pt'); open(p, 'wb').write(b'weights')
                mlflow.log_artifact(p, 'weights')
            c = mlflow.MlflowClient()
            c.create_registered_model('\(model)', tags={'team': 'safety'})
            v = c.create_model_version('\(model)', run.info.artifact_uri + '/weights', run.info.run_id, tags={'k': 'v'})
            c.set_registered_model_alias('\(model)', 'champion', v.version)
            print(json.dumps({'run_id': run.info.run_id, 'version': v.version}))
            """, environment: server.pythonEnvironment)
        let ids = try #require(out as? [String: String])
        let runId = try #require(ids["run_id"])

        let run = try await client.getRun(id: runId)
        #expect(run.params["epochs"] == "3")
        #expect(try await client.metricHistory(runId: runId, key: "mAP50").map(\.value) == [0.1, 0.2, 0.3])
        let registered = try #require(try await client.getRegisteredModel(name: model))
        #expect(registered.aliases == ["champion": "1"])
        #expect(registered.tags["team"] == "safety")
        let champion = try #require(try await client.modelVersion(name: model, alias: "champion"))
        #expect(champion.version == ids["version"])
        #expect(champion.runId == runId)
        #expect(champion.tags["k"] == "v")
        let files = try await client.listArtifacts(runId: runId, path: "weights")
        #expect(files.map(\.path) == ["weights/best.pt"])
    }

    @Test("registry: models, versions (waiting for READY), tags, aliases set/get/delete, download URI, search")
    func registry() async throws {
        let server = try currentServer()
        let client = try server.client()
        let experiment = try await client.getOrCreateExperiment(named: unique("reg"))
        let run = try await client.createRun(experimentId: experiment.experimentId)
        let name = unique("model")
        try await client.createRegisteredModel(name: name, tags: ["customer": "acme"])
        await #expect(throws: MLflowError.self) { try await client.createRegisteredModel(name: name) }
        #expect(try await client.getOrCreateRegisteredModel(name: name).name == name)
        #expect(try await client.getRegisteredModel(name: unique("none")) == nil)

        let source = run.artifactURI + "/weights"
        let created = try await client.createModelVersion(name: name, source: source, runId: run.runId, tags: ["weights.sha256": "abc"])
        let ready = try await client.waitUntilReady(name: name, version: created.version)
        #expect(ready.isReady)
        let second = try await client.createModelVersion(name: name, source: source, runId: run.runId)
        try await client.waitUntilReady(name: name, version: second.version)
        #expect(second.version == "2")

        try await client.setModelVersionTag(name: name, version: "1", key: "best/mAP50_95", value: "0.5")
        try await client.setRegisteredModelTag(name: name, key: "guardianflow.history", value: "[]")
        try await client.setAlias(name: name, alias: "champion", version: "1")
        try await client.setAlias(name: name, alias: "candidate", version: "2")
        #expect(try await client.modelVersion(name: name, alias: "champion")?.version == "1")
        try await client.setAlias(name: name, alias: "champion", version: "2")
        #expect(try await client.modelVersion(name: name, alias: "champion")?.version == "2")
        try await client.deleteAlias(name: name, alias: "candidate")
        #expect(try await client.modelVersion(name: name, alias: "candidate") == nil)
        #expect(try await client.getRegisteredModel(name: name)?.aliases == ["champion": "2"])

        let v1 = try await client.getModelVersion(name: name, version: "1")
        // Besides the tags given, the token by which a create whose answer was lost is found again.
        #expect(v1.tags.filter { $0.key != MLflowClient.createTokenTag } == ["weights.sha256": "abc", "best/mAP50_95": "0.5"])
        #expect(v1.tags[MLflowClient.createTokenTag]?.count == 36)
        #expect(try await client.downloadURI(name: name, version: "1") == source)
        let versions = try await client.allModelVersions(name: name)
        #expect(versions.map(\.version) == ["2", "1"])
        let models = try await client.allRegisteredModels(filter: "name LIKE '\(name)'")
        #expect(models.map(\.name) == [name])

        let py = try await Python.json(
            """
            import json, mlflow
            c = mlflow.MlflowClient()
            v = c.get_model_version_by_alias('\(name)', 'champion')
            print(json.dumps({'version': v.version, 'tags': c.get_model_version('\(name)', '1').tags}))
            """, environment: server.pythonEnvironment)
        let pyResult = try #require(py as? [String: Any])
        #expect(pyResult["version"] as? String == "2")
        #expect(pyResult["tags"] as? [String: String] == v1.tags, "the official client reads back exactly what was written")
    }

    @Test("artifacts through the proxy: streamed upload, listing, streamed download; Python downloads the same bytes")
    func artifacts() async throws {
        let server = try currentServer()
        let client = try server.client()
        let experiment = try await client.getOrCreateExperiment(named: unique("art"))
        let run = try await client.createRun(experimentId: experiment.experimentId)
        let root = try #require(MLflowClient.proxyPath(ofArtifactURI: run.artifactURI))
        let dir = TestEnvironment.temporaryDirectory()
        let payload = Data((0..<5_000_000).map { UInt8(($0 * 7) % 256) })
        try payload.write(to: URL(fileURLWithPath: dir + "/best.pt"))
        try await client.uploadArtifact(localFile: dir + "/best.pt", to: root + "/weights/best.pt")
        try await client.uploadArtifact(data: Data("a,b\n1,2\n".utf8), to: root + "/results.csv")

        let top = try await client.listArtifacts(runId: run.runId)
        #expect(Set(top.map(\.path)) == ["weights", "results.csv"])
        let proxied = try await client.listArtifacts(proxyPath: root + "/weights")
        #expect(proxied.first?.fileSize == 5_000_000)

        try await client.downloadArtifact(root + "/weights/best.pt", to: dir + "/back/best.pt")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/back/best.pt")) == payload)

        let size = try await Python.run(
            """
            import os, mlflow
            p = mlflow.artifacts.download_artifacts(run_id='\(run.runId)', artifact_path='weights/best.pt', dst_path='\(dir)/py')
            print(os.path.getsize(p))
            """, environment: server.pythonEnvironment)
        #expect(size.trimmingCharacters(in: .whitespacesAndNewlines) == "5000000")
    }

    @Test("errors carry MLflow's error_code: unknown run, duplicate param with another value")
    func serverErrors() async throws {
        let client = try currentServer().client()
        do {
            _ = try await client.getRun(id: "0123456789abcdef0123456789abcdef")
            Issue.record("expected an error")
        } catch let error as MLflowError {
            #expect(error.errorCode == "RESOURCE_DOES_NOT_EXIST")
            #expect(error.status == 404)
        }
        let experiment = try await client.getOrCreateExperiment(named: unique("err"))
        let run = try await client.createRun(experimentId: experiment.experimentId)
        try await client.logBatch(runId: run.runId, params: [KeyValue(key: "lr", value: "0.01")])
        do {
            try await client.logBatch(runId: run.runId, params: [KeyValue(key: "lr", value: "0.02")])
            Issue.record("expected an error")
        } catch let error as MLflowError {
            #expect(error.errorCode == "INVALID_PARAMETER_VALUE")
        }
    }
}

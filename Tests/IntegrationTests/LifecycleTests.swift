import Foundation
import GuardianFlow
import MLflow
import Testing
import TestSupport

/// A registered model with versions made directly (no training), for the registry's rules.
struct ModelFixture {
    let client: MLflowClient
    let name: String

    /// Versions 1…n with `best/mAP50_95` = values[i], a file best.pt uploaded for each.
    static func make(_ server: MLflowTestServer, values: [Double?], prefix: String = "m") async throws -> ModelFixture {
        let client = try server.client()
        let name = "\(prefix)-\(UUID().uuidString.prefix(8))"
        let experiment = try await client.getOrCreateExperiment(named: name + "-exp")
        for value in values {
            let run = try await client.createRun(experimentId: experiment.experimentId)
            let root = MLflowClient.proxyPath(ofArtifactURI: run.artifactURI)!
            let weights = Data("weights of \(run.runId)".utf8)
            try await client.uploadArtifact(data: weights, to: root + "/weights/best.pt")
            var tags = ["weights.sha256": FileDigest.sha256(weights)]
            if let value { tags["best/mAP50_95"] = String(value) }
            _ = try await client.getOrCreateRegisteredModel(name: name)
            let version = try await client.createModelVersion(name: name, source: run.artifactURI + "/weights", runId: run.runId, tags: tags)
            try await client.waitUntilReady(name: name, version: version.version)
        }
        return ModelFixture(client: client, name: name)
    }

    func aliases() async throws -> [String: String] {
        try await client.getRegisteredModel(name: name)?.aliases ?? [:]
    }

    func set(_ alias: String, _ version: String) async throws {
        try await client.setAlias(name: name, alias: alias, version: version)
    }

    var registry: ModelRegistry { ModelRegistry(client: client) }

    /// Each version in turn becomes the candidate and is promoted.
    func promoteInTurn(_ versions: [String]) async throws {
        for version in versions {
            try await set("candidate", version)
            _ = try await registry.promote(modelName: name)
        }
    }

    /// The pending mark, if any, belongs to an operation whose history entry exists.
    func pendingIsFinished() async throws -> Bool {
        let tags = try await client.getRegisteredModel(name: name)?.tags ?? [:]
        guard let pending = tags["guardianflow.pending"] else { return true }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(pending.utf8)) as? [String: Any])
        let entry = try JSONDecoder().decode(HistoryEntry.self, from: JSONSerialization.data(withJSONObject: object["entry"] ?? [:]))
        return tags[entry.tagKey] != nil
    }
}

@Suite("Model lifecycle rules", .mlflowServer)
struct LifecycleRuleTests {
    @Test("promote: candidate → champion, old champion → rollback, candidate removed, audit tags and history")
    func promote() async throws {
        let m = try await ModelFixture.make(try currentServer(), values: [0.5, 0.6])
        try await m.set("champion", "1")
        try await m.set("candidate", "2")
        let result = try await m.registry.promote(modelName: m.name, reason: "better on site A")
        #expect(result.champion == "2")
        #expect(result.rollback == "1")
        #expect(try await m.aliases() == ["champion": "2", "rollback": "1"])
        let tags = try await m.client.getModelVersion(name: m.name, version: "2").tags
        #expect(tags["guardianflow.promoted_from"] == "1")
        #expect(tags["guardianflow.reason"] == "better on site A")
        #expect(tags["guardianflow.promoted_by"]?.contains("@") == true)
        let history = try await m.registry.history(modelName: m.name)
        #expect(history.map(\.version) == ["2"])
        #expect(history.first?.value == 0.6)
        #expect(history.first?.championValue == 0.5)
        #expect(try await m.pendingIsFinished())
    }

    @Test("the gate refuses a worse candidate with both numbers and changes nothing; a margin or --force lets it through")
    func gate() async throws {
        let m = try await ModelFixture.make(try currentServer(), values: [0.50, 0.45])
        try await m.set("champion", "1")
        try await m.set("candidate", "2")
        do {
            _ = try await m.registry.promote(modelName: m.name)
            Issue.record("expected a refusal")
        } catch let error as GuardianFlowError {
            #expect(error.exitCode == 5)
            #expect(error.description.contains("0.4500"))
            #expect(error.description.contains("0.5000"))
        }
        #expect(try await m.aliases() == ["champion": "1", "candidate": "2"])
        #expect(try await m.registry.history(modelName: m.name).isEmpty)
        await #expect(throws: GuardianFlowError.self) {
            try await m.registry.promote(modelName: m.name, gate: PromotionGate(margin: 0.04))
        }
        let passed = try await m.registry.promote(modelName: m.name, gate: PromotionGate(margin: 0.06))
        #expect(passed.champion == "2")
        try await m.set("candidate", "1")
        let forced = try await m.registry.promote(modelName: m.name, version: "1", gate: PromotionGate(), force: true)
        #expect(forced.entry.forced)
        #expect(try await m.registry.history(modelName: m.name).first?.forced == true)
    }

    @Test("the gate refuses when the champion has no value for the metric (a misspelt --metric) rather than pass unchecked")
    func gateWithoutChampionValue() async throws {
        let m = try await ModelFixture.make(try currentServer(), values: [nil, 0.6])
        try await m.set("champion", "1")
        try await m.set("candidate", "2")
        for gate in [PromotionGate(), PromotionGate(metric: "best/map50_95")] {
            do {
                _ = try await m.registry.promote(modelName: m.name, gate: gate)
                Issue.record("expected a refusal for \(gate.metric)")
            } catch let error as GuardianFlowError {
                #expect(error.exitCode == 5)
                #expect(error.description.contains("champion version 1 has no \(gate.metric)"), "\(error)")
            }
        }
        #expect(try await m.aliases() == ["champion": "1", "candidate": "2"])
        #expect(try await m.registry.history(modelName: m.name).isEmpty)
        #expect(try await m.registry.promote(modelName: m.name, force: true).champion == "2")
    }

    @Test("a first champion passes the gate")
    func firstChampion() async throws {
        let m = try await ModelFixture.make(try currentServer(), values: [0.1])
        try await m.set("candidate", "1")
        let result = try await m.registry.promote(modelName: m.name)
        #expect(result.champion == "1")
        #expect(result.rollback == nil)
        #expect(try await m.aliases() == ["champion": "1"])
    }

    @Test("refusals exit 6, say what exists and change nothing")
    func refusals() async throws {
        let m = try await ModelFixture.make(try currentServer(), values: [0.5, 0.6])
        try await m.set("champion", "1")
        func refused(_ body: () async throws -> Void, _ expected: String) async {
            do {
                try await body()
                Issue.record("expected a refusal: \(expected)")
            } catch let error as GuardianFlowError {
                #expect(error.exitCode == 6, "\(error)")
                #expect(error.description.contains(expected), "\(error)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        await refused({ _ = try await m.registry.promote(modelName: "no-such-model-\(UUID())") }, "no registered model")
        await refused({ _ = try await m.registry.promote(modelName: m.name, version: "9") }, "Versions: 2, 1")
        await refused({ _ = try await m.registry.promote(modelName: m.name) }, "no @candidate")
        await refused({ _ = try await m.registry.promote(modelName: m.name, version: "1") }, "already is the champion")
        await refused({ _ = try await m.registry.rollback(modelName: m.name) }, "no @rollback")
        #expect(try await m.aliases() == ["champion": "1"])
        #expect(try await m.registry.history(modelName: m.name).isEmpty)
    }

    @Test("rollback: champion ← rollback, rollback ← the champion before it in the history, or removed")
    func rollbackChain() async throws {
        let m = try await ModelFixture.make(try currentServer(), values: [0.1, 0.2, 0.3])
        try await m.promoteInTurn(["1", "2", "3"])
        #expect(try await m.aliases() == ["champion": "3", "rollback": "2"])
        let first = try await m.registry.rollback(modelName: m.name, reason: "v3 misses helmets")
        #expect(first.champion == "2")
        #expect(first.rollback == "1")
        #expect(try await m.aliases() == ["champion": "2", "rollback": "1"])
        let second = try await m.registry.rollback(modelName: m.name)
        #expect(second.champion == "1")
        #expect(second.rollback == nil)
        #expect(try await m.aliases() == ["champion": "1"])
        let history = try await m.registry.history(modelName: m.name)
        #expect(history.map(\.action) == [.rollback, .rollback, .promote, .promote, .promote])
        #expect(history.map(\.version) == ["1", "2", "3", "2", "1"])
    }

    @Test("rollback skips a previous champion that was deleted: @rollback then goes to the one before, or is removed")
    func rollbackPastDeletedVersion() async throws {
        let m = try await ModelFixture.make(try currentServer(), values: [0.1, 0.2, 0.3])
        try await m.promoteInTurn(["1", "2", "3"])
        try await m.client.deleteModelVersion(name: m.name, version: "1")
        let result = try await m.registry.rollback(modelName: m.name)
        #expect(result.champion == "2")
        #expect(result.rollback == nil)
        #expect(result.entry.rollback == nil)
        #expect(try await m.aliases() == ["champion": "2"])
        #expect(try await m.registry.history(modelName: m.name).first?.rollback == nil)
    }

    static let promoteSteps = ["pending", "rollback", "champion", "candidate", "audit", "done"]
    static let rollbackSteps = ["pending", "rollback", "champion", "audit", "done"]

    struct Crash: Error {}

    @Test("a crash between any two writes of a promote leaves valid aliases; running it again finishes the job", arguments: promoteSteps)
    func promoteCrash(step: String) async throws {
        let m = try await ModelFixture.make(try currentServer(), values: [0.5, 0.6])
        try await m.set("champion", "1")
        try await m.set("candidate", "2")
        let crashing = ModelRegistry(client: m.client, beforeWrite: { if $0 == step { throw Crash() } })
        await #expect(throws: Crash.self) { try await crashing.promote(modelName: m.name) }
        let between = try await m.aliases()
        for version in between.values { #expect(["1", "2"].contains(version)) }
        #expect(between["champion"] != nil)
        #expect(between["champion"] != between["rollback"], "\(between)")

        let again = try await m.registry.promote(modelName: m.name)
        #expect(again.champion == "2")
        #expect(try await m.aliases() == ["champion": "2", "rollback": "1"])
        let history = try await m.registry.history(modelName: m.name)
        #expect(history.count == 1, "\(history)")
        #expect(history.first?.version == "2")
        #expect(try await m.pendingIsFinished())
    }

    @Test("a crash between any two writes of a rollback leaves valid aliases; running it again finishes the job", arguments: rollbackSteps)
    func rollbackCrash(step: String) async throws {
        let m = try await ModelFixture.make(try currentServer(), values: [0.1, 0.2, 0.3])
        try await m.promoteInTurn(["1", "2", "3"])
        let crashing = ModelRegistry(client: m.client, beforeWrite: { if $0 == step { throw Crash() } })
        await #expect(throws: Crash.self) { try await crashing.rollback(modelName: m.name) }
        let between = try await m.aliases()
        #expect(between["champion"] != nil)
        #expect(between["champion"] != between["rollback"])
        let again = try await m.registry.rollback(modelName: m.name)
        #expect(again.champion == "2")
        #expect(try await m.aliases() == ["champion": "2", "rollback": "1"])
        #expect(try await m.registry.history(modelName: m.name).filter { $0.action == .rollback }.count == 1)
    }

    /// Throws before the `at`-th write (0-based), whatever its step.
    final class CrashAt: @unchecked Sendable {
        let at: Int
        private let lock = NSLock()
        private var count = 0
        init(_ at: Int) { self.at = at }
        func check(_ step: String) throws {
            let n = lock.withLock { defer { count += 1 }; return count }
            if n == at { throw Crash() }
        }
    }

    @Test(
        "a rollback whose next @rollback is today's champion (promoted back and forth): between any two writes rollback ≠ champion; running it again finishes it",
        arguments: 0..<9)
    func rollbackOntoCurrentChampionCrash(write: Int) async throws {
        let m = try await ModelFixture.make(try currentServer(), values: [0.1, 0.2])
        try await m.promoteInTurn(["1", "2"])
        _ = try await m.registry.promote(modelName: m.name, version: "1", force: true)
        // Rolling back to 2 puts @rollback on 1 (the champion 2 replaced), which is the champion now.
        #expect(try await m.aliases() == ["champion": "1", "rollback": "2"])
        let crash = CrashAt(write)
        let crashing = ModelRegistry(client: m.client, beforeWrite: { try crash.check($0) })
        do {
            _ = try await crashing.rollback(modelName: m.name)
        } catch is Crash {
            let between = try await m.aliases()
            #expect(between["champion"] != nil)
            #expect(between["champion"] != between["rollback"], "after write \(write): \(between)")
            let again = try await m.registry.rollback(modelName: m.name)
            #expect(again.resumed == (write > 0))
        }
        #expect(try await m.aliases() == ["champion": "2", "rollback": "1"])
        #expect(try await m.registry.history(modelName: m.name).filter { $0.action == .rollback }.count == 1)
    }

    @Test("pull verifies the SHA-256; a mismatch leaves no file behind")
    func pull() async throws {
        let m = try await ModelFixture.make(try currentServer(), values: [0.5, 0.6])
        try await m.set("champion", "1")
        let dir = TestEnvironment.temporaryDirectory("pull")
        let pulled = try await m.registry.pull(try ModelReference(parsing: m.name), to: dir)
        #expect(pulled.version == "1")
        #expect(FileManager.default.fileExists(atPath: dir + "/best.pt"))
        let byVersion = try await m.registry.pull(try ModelReference(parsing: "\(m.name)/2"), to: dir + "/v2")
        #expect(byVersion.version == "2")

        try await m.client.setModelVersionTag(name: m.name, version: "2", key: "weights.sha256", value: String(repeating: "0", count: 64))
        let bad = TestEnvironment.temporaryDirectory("pull-bad")
        do {
            _ = try await m.registry.pull(try ModelReference(parsing: "\(m.name)/2"), to: bad)
            Issue.record("expected a mismatch")
        } catch let error as GuardianFlowError {
            #expect(error.description.contains("SHA-256"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: bad).isEmpty)
    }

    @Test("model references parse")
    func references() throws {
        #expect(try ModelReference(parsing: "ppe") == ModelReference(name: "ppe", selector: .alias("champion")))
        #expect(try ModelReference(parsing: "ppe@candidate") == ModelReference(name: "ppe", selector: .alias("candidate")))
        #expect(try ModelReference(parsing: "ppe/3") == ModelReference(name: "ppe", selector: .version("3")))
        #expect(try ModelReference(parsing: "models:/ppe@champion") == ModelReference(name: "ppe", selector: .alias("champion")))
        #expect(throws: GuardianFlowError.self) { try ModelReference(parsing: "@x") }
    }
}

@Suite("Model lifecycle through the CLI", .mlflowServer, .serialized)
struct LifecycleCLITests {
    func env(_ server: MLflowTestServer) -> [String: String] {
        TestEnvironment.cleanEnvironment(["MLFLOW_TRACKING_URI": server.uri, "GUARDIANFLOW_WORK_DIR": TestEnvironment.temporaryDirectory("lc")])
    }

    @Test("train → promote → train → promote → rollback, checked with the official client; the champion's weights load in ultralytics")
    func wholeCycle() async throws {
        let server = try currentServer()
        let environment = env(server)
        let name = "cycle-\(UUID().uuidString.prefix(6))"
        func train() async throws -> String {
            let r = try await CLI.run(
                ["train", "--experiment", name, "--data", TestEnvironment.repoRoot + "/examples/ppe-sample/data.yaml", "--model", "yolov8n.yaml",
                 "--epochs", "1", "--batch", "8", "--imgsz", "64", "--device", "cpu", "--arg", "plots=false", "--json"],
                environment: environment, timeout: .seconds(300))
            #expect(r.exitCode == 0, "\(r.stderr.suffix(2000))")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            return try #require((json["model"] as? [String: Any])?["version"] as? String)
        }
        func gf(_ args: [String]) async throws -> CLI.Result { try await CLI.run(args, environment: environment) }
        func championByPython() async throws -> String {
            try await Python.run(
                "import mlflow; print(mlflow.MlflowClient().get_model_version_by_alias('\(name)', 'champion').version)",
                environment: server.pythonEnvironment).trimmingCharacters(in: .whitespacesAndNewlines)
        }

        #expect(try await train() == "1")
        let p1 = try await gf(["promote", name, "--reason", "first"])
        #expect(p1.exitCode == 0, "\(p1.stderr)")
        #expect(try await championByPython() == "1")
        #expect(try await train() == "2")
        let p2 = try await gf(["promote", name, "--force", "--reason", "second"])
        #expect(p2.exitCode == 0, "\(p2.stderr)")
        #expect(try await championByPython() == "2")
        let rb = try await gf(["rollback", name, "--reason", "regression", "--json"])
        #expect(rb.exitCode == 0, "\(rb.stderr)")
        #expect(try await championByPython() == "1")
        let history = try await gf(["history", name, "--json"])
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]])
        #expect(entries.compactMap { $0["action"] as? String } == ["rollback", "promote", "promote"])
        #expect(entries.compactMap { $0["reason"] as? String } == ["regression", "second", "first"])

        let loaded = try await Python.run(
            """
            import os, mlflow
            from ultralytics import YOLO
            d = mlflow.artifacts.download_artifacts('models:/\(name)@champion', dst_path='\(TestEnvironment.temporaryDirectory("champ"))')
            m = YOLO(os.path.join(d, 'best.pt'))
            print(sorted(m.names.values()))
            """, environment: server.pythonEnvironment.merging(["YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": TestEnvironment.temporaryDirectory("y")]) { _, b in b })
        #expect(loaded.contains("['helmet', 'vest']"))

        let show = try await gf(["models", "show", name])
        #expect(show.stdout.contains("@champion"))
        let pulled = try await gf(["pull", "\(name)@champion", "-o", TestEnvironment.temporaryDirectory("pulled")])
        #expect(pulled.exitCode == 0)
        #expect(pulled.stdout.contains("verified"))
    }

    @Test("16 concurrent promote and rollback processes leave a valid state, every success in the history")
    func concurrent() async throws {
        let server = try currentServer()
        let m = try await ModelFixture.make(server, values: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
        try await m.set("candidate", "1")
        _ = try await m.registry.promote(modelName: m.name)
        try await m.set("candidate", "2")
        _ = try await m.registry.promote(modelName: m.name)
        let environment = env(server)
        let results = try await withThrowingTaskGroup(of: (String, CLI.Result).self) { group in
            for i in 0..<16 {
                let tag = "op-\(i)"
                let args = i % 2 == 0
                    ? ["promote", m.name, "--version", String(3 + (i / 2) % 4), "--force", "--reason", tag]
                    : ["rollback", m.name, "--reason", tag]
                group.addTask { (tag, try await CLI.run(args, environment: environment, timeout: .seconds(120))) }
            }
            return try await group.reduce(into: [(String, CLI.Result)]()) { $0.append($1) }
        }
        for (tag, result) in results {
            #expect([0, 6].contains(result.exitCode), "\(tag): \(result.exitCode) \(result.stderr)")
        }
        let aliases = try await m.aliases()
        let champion = try #require(aliases["champion"])
        #expect(aliases["rollback"] != champion)
        for version in aliases.values { #expect((1...6).map(String.init).contains(version)) }
        let recorded = Set(try await m.registry.history(modelName: m.name).compactMap(\.reason))
        let succeeded = Set(results.filter { $0.1.exitCode == 0 }.map(\.0))
        #expect(succeeded.isSubset(of: recorded), "missing from the history: \(succeeded.subtracting(recorded))")
        #expect(succeeded.count >= 8)
    }
}

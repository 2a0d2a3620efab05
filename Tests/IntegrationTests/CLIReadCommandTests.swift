#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow
import MLflow
import Testing
import TestSupport

/// The read side of the CLI as a user runs it: a fresh process against a real server.
@Suite("CLI read commands", .mlflowServer)
struct CLIReadCommandTests {
    func env(_ server: MLflowTestServer, _ extra: [String: String] = [:]) -> [String: String] {
        TestEnvironment.cleanEnvironment(
            ["MLFLOW_TRACKING_URI": server.uri, "GUARDIANFLOW_WORK_DIR": TestEnvironment.temporaryDirectory("work")].merging(extra) { _, b in b })
    }

    /// Seeds the server with the official client: two experiments with runs, two models with versions and aliases.
    func seed(_ server: MLflowTestServer, prefix: String) async throws {
        _ = try await Python.run(
            """
            import mlflow
            c = mlflow.MlflowClient()
            for e in ['a', 'b']:
                mlflow.set_experiment('\(prefix)-exp-' + e)
                for i in range(3):
                    with mlflow.start_run(run_name=f'run{i}') as r:
                        mlflow.log_metric('mAP50_95', i / 10)
                        mlflow.log_param('epochs', i)
            for m in ['x', 'y']:
                name = '\(prefix)-model-' + m
                c.create_registered_model(name)
                for v in range(3):
                    c.create_model_version(name, r.info.artifact_uri + '/weights', r.info.run_id, tags={'best/mAP50_95': str(v / 10)})
                c.set_registered_model_alias(name, 'champion', '2')
                c.set_registered_model_alias(name, 'candidate', '3')
            """, environment: server.pythonEnvironment)
    }

    @Test("list experiments/models/versions/runs --json agree with the Python client")
    func listsAgreeWithPython() async throws {
        let server = try currentServer()
        let prefix = "cli\(UUID().uuidString.prefix(6))"
        try await seed(server, prefix: prefix)
        let python = try await Python.json(
            """
            import json, mlflow
            c = mlflow.MlflowClient()
            exps = sorted(e.name for e in c.search_experiments())
            models = {m.name: dict(m.aliases) for m in c.search_registered_models()}
            versions = sorted(int(v.version) for v in c.search_model_versions("name='\(prefix)-model-x'"))
            e = c.get_experiment_by_name('\(prefix)-exp-a')
            runs = sorted(r.info.run_id for r in c.search_runs([e.experiment_id]))
            print(json.dumps({'exps': exps, 'models': models, 'versions': versions, 'runs': runs}))
            """, environment: server.pythonEnvironment) as? [String: Any]
        let expected = try #require(python)

        let experiments = try await CLI.run(["list", "experiments", "--json"], environment: env(server))
        #expect(experiments.exitCode == 0, "\(experiments.stderr)")
        let expRows = try #require(try JSONSerialization.jsonObject(with: Data(experiments.stdout.utf8)) as? [[String: Any]])
        #expect(expRows.compactMap { $0["name"] as? String }.sorted() == expected["exps"] as? [String])

        let models = try await CLI.run(["list", "models", "--json"], environment: env(server))
        let modelRows = try #require(try JSONSerialization.jsonObject(with: Data(models.stdout.utf8)) as? [[String: Any]])
        let modelAliases = Dictionary(uniqueKeysWithValues: modelRows.map { ($0["name"] as! String, $0["aliases"] as! [String: String]) })
        #expect(modelAliases == expected["models"] as? [String: [String: String]])

        let versions = try await CLI.run(["list", "versions", "\(prefix)-model-x", "--json"], environment: env(server))
        let versionRows = try #require(try JSONSerialization.jsonObject(with: Data(versions.stdout.utf8)) as? [[String: Any]])
        #expect(versionRows.compactMap { Int($0["version"] as? String ?? "") }.sorted() == expected["versions"] as? [Int])
        #expect(versionRows.first { $0["version"] as? String == "2" }?["aliases"] as? [String] == ["champion"])

        let runs = try await CLI.run(["list", "runs", "--experiment", "\(prefix)-exp-a", "--json"], environment: env(server))
        let runRows = try #require(try JSONSerialization.jsonObject(with: Data(runs.stdout.utf8)) as? [[String: Any]])
        #expect(runRows.compactMap { $0["run_id"] as? String }.sorted() == expected["runs"] as? [String])
        let positional = try await CLI.run(["list", "runs", "\(prefix)-exp-a", "--json"], environment: env(server))
        #expect(positional.stdout == runs.stdout)

        // --filter matches a part of the name in any case.
        let filtered = try await CLI.run(["list", "models", "--filter", "\(prefix)-MODEL-X".uppercased(), "--json"], environment: env(server))
        #expect(filtered.exitCode == 0, "\(filtered.stderr)")
        let filteredRows = try #require(try JSONSerialization.jsonObject(with: Data(filtered.stdout.utf8)) as? [[String: Any]])
        #expect(filteredRows.compactMap { $0["name"] as? String } == ["\(prefix)-model-x"])

        // Tables for people: header and one row per item.
        let table = try await CLI.run(["list", "versions", "\(prefix)-model-y"], environment: env(server))
        #expect(table.stdout.hasPrefix("VERSION"))
        #expect(table.stdout.contains("champion"))
        #expect(table.stdout.split(separator: "\n").count == 2 + 3)
    }

    @Test("unknown model or experiment: exit 6, naming what exists")
    func unknowns() async throws {
        let server = try currentServer()
        let result = try await CLI.run(["list", "versions", "no-such-model"], environment: env(server))
        #expect(result.exitCode == 6)
        #expect(result.stderr.contains("no registered model 'no-such-model'"))
        #expect(result.stdout.isEmpty)
        let runs = try await CLI.run(["list", "runs", "--experiment", "no-such-exp", "--json"], environment: env(server))
        #expect(runs.exitCode == 6)
        #expect(runs.stdout.isEmpty)
    }

    @Test("doctor against a healthy server: every required check passes")
    func doctorHealthy() async throws {
        let server = try currentServer()
        let result = try await CLI.run(["doctor", "--json"], environment: env(server))
        #expect(result.exitCode == 0, "\(result.stdout)\(result.stderr)")
        let checks = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        let outcomes = Dictionary(uniqueKeysWithValues: checks.map { ($0["name"] as! String, $0["outcome"] as! String) })
        #expect(outcomes["tracking server"] == "ok")
        #expect(outcomes["artifact store"] == "ok")
        #expect(outcomes["python venv"] == "ok")
        // NVML is optional: ok with devices on a GPU machine, a warning elsewhere; either way it
        // says what this machine has.
        switch NVMLAvailability.probe() {
        case .absent: #expect(outcomes["NVML"] == "warning")
        case .available(_, let devices): #expect(outcomes["NVML"] == (devices.isEmpty ? "warning" : "ok"))
        }
    }

    @Test("train --help offers for --device only what the validator takes, and lists exit 74")
    func trainHelp() async throws {
        let help = try await CLI.run(["train", "--help"], environment: TestEnvironment.cleanEnvironment())
        #expect(help.exitCode == 0)
        let text = help.stdout.replacingOccurrences(of: "\n", with: " ").split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(text.contains("several (0,1) for ultralytics' multi-GPU (DDP) training"), "\(text)")
        #expect(text.contains("74"), "\(text)")
    }

    @Test("config show masks every secret")
    func configShow() async throws {
        let server = try currentServer()
        let result = try await CLI.run(
            ["config", "show"],
            environment: env(server, ["MLFLOW_TRACKING_PASSWORD": "canary-pw-77", "AWS_SECRET_ACCESS_KEY": "canary-aws-88",
                                      "MLFLOW_TRACKING_TOKEN": "canary-tok-99"]))
        #expect(result.exitCode == 0)
        for canary in ["canary-pw-77", "canary-aws-88", "canary-tok-99"] {
            #expect(!result.stdout.contains(canary))
            #expect(!result.stderr.contains(canary))
        }
        #expect(result.stdout.contains("env MLFLOW_TRACKING_PASSWORD"))
        #expect(result.stdout.contains("Config file: none"))

        let dir = TestEnvironment.temporaryDirectory("cfg")
        try "http_retry_seconds: 2\n".write(toFile: dir + "/gf.yaml", atomically: true, encoding: .utf8)
        let named = try await CLI.run(["config", "show", "--config", dir + "/gf.yaml"], environment: env(server))
        #expect(named.stdout.contains("Config file: \(dir)/gf.yaml"), "\(named.stdout)")
        let json = try await CLI.run(["config", "show", "--json"], environment: env(server))
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(rows.allSatisfy { ($0["description"] as? String)?.isEmpty == false })
    }
}

/// Failure paths that need no MLflow server.
@Suite("CLI failure paths")
struct CLIFailureTests {
    @Test("an unreachable server exits 69 within seconds, naming the URI and hiding its password")
    func unreachable() async throws {
        let port = TestEnvironment.freePort()
        let result = try await CLI.run(
            ["list", "models"],
            environment: TestEnvironment.cleanEnvironment(["MLFLOW_TRACKING_URI": "http://ann:topsecret@127.0.0.1:\(port)"]))
        #expect(result.exitCode == 69)
        #expect(result.seconds < 20, "within seconds (the retry budget is 3 s), not the minutes of an outage wait")
        #expect(result.stderr.contains("http://127.0.0.1:\(port)"))
        #expect(!result.stderr.contains("topsecret"))
        #expect(result.stdout.isEmpty)
    }

    @Test("refused credentials exit 77")
    func refused() async throws {
        let server = try await TestHTTPServer { _ in .reply(status: 401, body: Data("unauthorized".utf8)) }
        defer { Task { await server.shutdown() } }
        let result = try await CLI.run(
            ["list", "experiments"],
            environment: TestEnvironment.cleanEnvironment([
                "MLFLOW_TRACKING_URI": server.url, "MLFLOW_TRACKING_USERNAME": "ann", "MLFLOW_TRACKING_PASSWORD": "wrong-pw-canary",
            ]))
        #expect(result.exitCode == 77)
        #expect(result.stderr.contains("refused the credentials"))
        #expect(!result.stderr.contains("wrong-pw-canary"))
        #expect(server.requests.first?.header("Authorization") == "Basic YW5uOndyb25nLXB3LWNhbmFyeQ==")
    }

    @Test("doctor exits 69 when the tracking server is down, with a fix")
    func doctorDown() async throws {
        let result = try await CLI.run(
            ["doctor"], environment: TestEnvironment.cleanEnvironment(["MLFLOW_TRACKING_URI": "http://127.0.0.1:\(TestEnvironment.freePort())"]))
        #expect(result.exitCode == 69)
        #expect(result.stdout.contains("✗ tracking server"))
        #expect(result.stdout.contains("fix:"))
    }

    @Test("a bad config value exits 65 before any request")
    func badConfig() async throws {
        let result = try await CLI.run(
            ["list", "models"],
            environment: TestEnvironment.cleanEnvironment(["MLFLOW_TRACKING_URI": "file:///tmp/mlruns"]))
        #expect(result.exitCode == 65)
        #expect(result.stderr.contains("tracking_uri"))
    }

    @Test("bad arguments exit 64 with usage")
    func usage() async throws {
        let result = try await CLI.run(["list", "runs"], environment: TestEnvironment.cleanEnvironment())
        #expect(result.exitCode == 64)
        #expect(result.stderr.contains("--experiment"))
    }
}

/// The embedded default: no tracking URI means a local server under the work dir.
@Suite("Embedded local server")
struct EmbeddedServerTests {
    @Test("a command with no tracking URI starts the local server, says so on stderr, and server stop ends its whole group")
    func embedded() async throws {
        let work = TestEnvironment.temporaryDirectory("embedded")
        let port = TestEnvironment.freePort()
        let env = TestEnvironment.cleanEnvironment(["GUARDIANFLOW_WORK_DIR": work, "GUARDIANFLOW_SERVER_PORT": String(port)])
        let before = try await CLI.run(["server", "status"], environment: env)
        #expect(before.exitCode == 69)
        #expect(before.stdout.contains("not running"))

        // A first start creates the database; while the whole suite trains on two cores that
        // takes minutes (the CLI waits up to 300 s).
        let list = try await CLI.run(["list", "experiments", "--json"], environment: env, timeout: .seconds(420))
        // The server the CLI started runs in a session of its own: scripts/test stops its group
        // if this test does not get to.
        let recorded = (try? String(contentsOfFile: work + "/server/server.pid", encoding: .utf8))?.split(separator: " ").first
        let serverGroup = recorded.flatMap { Int32($0) }
        if let serverGroup { TestEnvironment.register(pgid: serverGroup) }
        do {
            try await checkEmbedded(list: list, env: env, work: work, port: port)
        } catch {
            _ = try? await CLI.run(["server", "stop"], environment: env)
            throw error
        }
        _ = try? await CLI.run(["server", "stop"], environment: env)
        if let serverGroup {
            #expect(!groupAlive(serverGroup))
            TestEnvironment.unregister(pgid: serverGroup)
        }
    }

    func checkEmbedded(list: CLI.Result, env: [String: String], work: String, port: Int) async throws {
        #expect(list.exitCode == 0, "\(list.stderr)")
        #expect(list.stderr.contains("starting the local MLflow server at http://127.0.0.1:\(port)"))
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        #expect(rows.compactMap { $0["name"] as? String } == ["Default"])
        #expect(FileManager.default.fileExists(atPath: work + "/server/mlflow.db"))

        // A second command finds it running and says nothing about starting.
        let again = try await CLI.run(["list", "models"], environment: env)
        #expect(again.exitCode == 0)
        #expect(!again.stderr.contains("starting"))

        let status = try await CLI.run(["server", "status", "--json"], environment: env)
        let statusJSON = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        #expect(statusJSON["running"] as? Bool == true)
        #expect(statusJSON["version"] as? String == "3.17.2")
        let pid = try #require(statusJSON["pid"] as? Int)

        // Asked without the port it was started on, stop still names the address it served.
        var otherPort = env
        otherPort["GUARDIANFLOW_SERVER_PORT"] = nil
        let stop = try await CLI.run(["server", "stop"], environment: otherPort)
        #expect(stop.exitCode == 0)
        #expect(stop.stdout.contains("Stopped the local MLflow server at http://127.0.0.1:\(port)."), "\(stop.stdout)")
        #expect(!groupAlive(Int32(pid)))
        let after = try await CLI.run(["server", "status"], environment: env)
        #expect(after.exitCode == 69)
    }

    @Test("a local server that dies at start is reported within seconds, with the tail of its log")
    func diesAtStart() async throws {
        // A venv whose mlflow fails at once, as a broken install or a bad database does.
        let venv = TestEnvironment.temporaryDirectory("broken-venv")
        try FileManager.default.createDirectory(atPath: venv + "/bin", withIntermediateDirectories: true)
        try ReplayingPython.writeExecutable(
            "#!/bin/sh\necho 'boom: the backend store cannot be opened' >&2\nexit 3\n", to: venv + "/bin/mlflow")
        var server = LocalMLflowServer(
            workDir: TestEnvironment.temporaryDirectory("broken-work"), port: TestEnvironment.freePort(),
            python: PythonEnvironment(python: venv + "/bin/python"))
        server.startTimeout = .seconds(120)
        let clock = ContinuousClock()
        let started = clock.now
        do {
            try await server.start()
            Issue.record("expected the start to fail")
        } catch let error as GuardianFlowError {
            #expect(error.exitCode == 69)
            #expect(error.description.contains("exited at start"), "\(error)")
            #expect(error.description.contains("boom: the backend store cannot be opened"), "\(error)")
        }
        #expect(clock.now - started < .seconds(40), "reported when it exits, not after the 120 s start timeout")
    }

    @Test("server stop leaves alone a process whose pid the pidfile names but that is not the server it started")
    func stopChecksTheProcess() async throws {
        let work = TestEnvironment.temporaryDirectory("reused-pid")
        let bystander = try ChildProcess.spawn(ProcessSpec(executable: "/bin/sleep", arguments: ["60"], grouping: .newGroup))
        TestEnvironment.register(pgid: bystander.pid)
        defer {
            bystander.signal(SIGKILL)
            TestEnvironment.unregister(pgid: bystander.pid)
        }
        let server = LocalMLflowServer(workDir: work, port: TestEnvironment.freePort(), python: PythonEnvironment(python: TestEnvironment.python))
        try FileManager.default.createDirectory(atPath: work + "/server", withIntermediateDirectories: true)
        // A pid alone (no start time), and a pid with another process's start time: neither is proof.
        for recorded in ["\(bystander.pid)\n", "\(bystander.pid) 1\n"] {
            try recorded.write(toFile: server.pidFile, atomically: true, encoding: .utf8)
            #expect(await server.stop(grace: .seconds(1)) == nil)
            #expect(await bystander.waitForExit(timeout: .milliseconds(300)) == nil, "the bystander still runs after stop with '\(recorded)'")
        }
    }

    func groupAlive(_ pgid: Int32) -> Bool {
        // Any process whose process group is pgid (zombies excluded).
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.contains { entry in
            guard Int32(entry) != nil, let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.range(of: ") ", options: .backwards)
            else { return false }
            let fields = stat[close.upperBound...].split(separator: " ")
            return fields.count > 2 && fields[0] != "Z" && Int32(fields[2]) == pgid
        }
    }
}

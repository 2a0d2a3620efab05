#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow
import MLflow
import Testing
import TestSupport

/// Canary secrets in every secret setting, from the environment and from a config file, through
/// a real training and the commands around it: none may appear in MLflow (params, tags, metrics,
/// artifacts, version and model tags), in the work dir (runs, logs, journals, leases), or in any
/// output.
@Suite("Secrets never leak (canaries)", .mlflowServer)
struct SecretsCanaryTests {
    static let data = TestEnvironment.repoRoot + "/examples/ppe-sample/data.yaml"

    @Test("canaries in every secret setting appear nowhere: MLflow, artifacts, the work dir, journals, logs, output")
    func canaries() async throws {
        let server = try currentServer()
        let tag = UUID().uuidString.prefix(8).lowercased()
        let canaries = [
            "env password": "CanaryPwEnv\(tag)", "env token": "CanaryTokEnv\(tag)", "env aws secret": "CanaryAwsEnv\(tag)",
            "uri password": "CanaryPwUri\(tag)", "file password": "CanaryPwFile\(tag)", "file token": "CanaryTokFile\(tag)",
            "file aws secret": "CanaryAwsFile\(tag)",
        ]
        let work = TestEnvironment.temporaryDirectory("canary-work")
        let config = TestEnvironment.temporaryDirectory("canary-config") + "/guardianflow.yaml"
        try """
            tracking_password: \(canaries["file password"]!)
            tracking_token: \(canaries["file token"]!)
            aws_secret_access_key: \(canaries["file aws secret"]!)
            aws_access_key_id: AKIDCANARYFILE
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let port = server.uri.split(separator: ":").last!
        let environment = TestEnvironment.cleanEnvironment([
            "MLFLOW_TRACKING_URI": "http://canary-user:\(canaries["uri password"]!)@127.0.0.1:\(port)",
            "MLFLOW_TRACKING_USERNAME": "canary-user", "MLFLOW_TRACKING_PASSWORD": canaries["env password"]!,
            "MLFLOW_TRACKING_TOKEN": canaries["env token"]!, "AWS_SECRET_ACCESS_KEY": canaries["env aws secret"]!,
            "AWS_ACCESS_KEY_ID": "AKIDCANARYENV", "GUARDIANFLOW_WORK_DIR": work,
        ])
        let model = "canary-\(tag)"
        var outputs: [String: CLI.Result] = [:]
        outputs["train"] = try await CLI.run(
            ["train", "--config", config, "--experiment", "canary-\(tag)", "--data", Self.data, "--model", "yolov8n.yaml", "--epochs", "1",
             "--batch", "8", "--imgsz", "32", "--device", "cpu", "--workers", "0", "--model-name", model, "--system-metrics-interval", "1",
             "--json"], environment: environment, timeout: .seconds(300))
        #expect(outputs["train"]?.exitCode == 0, "\(outputs["train"]?.stderr.suffix(2000) ?? "")")
        for (name, arguments) in [
            ("config show", ["config", "show", "--config", config]), ("config show json", ["config", "show", "--config", config, "--json"]),
            ("doctor", ["doctor", "--config", config]), ("list models", ["list", "models", "--config", config]),
            ("promote", ["promote", model, "--config", config, "--json"]), ("history", ["history", model, "--config", config, "--json"]),
            ("models show", ["models", "show", model, "--config", config]), ("pull", ["pull", "\(model)@champion", "-o", work + "/pulled", "--config", config]),
            ("sync", ["sync", "--config", config]), ("runs reap", ["runs", "reap", "--config", config]),
        ] {
            outputs[name] = try await CLI.run(arguments, environment: environment, timeout: .seconds(120))
        }
        #expect(outputs["promote"]?.exitCode == 0, "\(outputs["promote"]?.stderr ?? "")")
        #expect(outputs["config show"]?.stdout.contains("****") == true, "secrets are shown masked")

        // Everything MLflow holds for the experiment, and every artifact, read with the Python client.
        let artifacts = TestEnvironment.temporaryDirectory("canary-artifacts")
        let dump = try await Python.run(
            """
            import json, mlflow
            from mlflow import MlflowClient
            c = MlflowClient()
            exp = c.get_experiment_by_name('canary-\(tag)')
            out = {'experiment': dict(exp.tags), 'runs': [], 'versions': [], 'model': {}}
            for r in c.search_runs([exp.experiment_id]):
                out['runs'].append({'params': r.data.params, 'tags': r.data.tags, 'metrics': r.data.metrics, 'name': r.info.run_name})
                mlflow.artifacts.download_artifacts(run_id=r.info.run_id, dst_path='\(artifacts)/' + r.info.run_id)
            m = c.get_registered_model('\(model)')
            out['model'] = {'tags': m.tags, 'description': m.description, 'aliases': m.aliases}
            out['versions'] = [{'tags': v.tags, 'source': v.source, 'description': v.description}
                               for v in c.search_model_versions("name='\(model)'")]
            print(json.dumps(out))
            """, environment: server.pythonEnvironment)
        #expect(dump.contains("\"runs\": [{"), "the run is there: \(dump.prefix(300))")

        var places: [(String, Data)] = [("MLflow (params, tags, metrics, versions, model)", Data(dump.utf8))]
        for (name, result) in outputs {
            places.append(("\(name) stdout", Data(result.stdout.utf8)))
            places.append(("\(name) stderr", Data(result.stderr.utf8)))
        }
        for root in [artifacts, work] {
            let files = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
            #expect(!files.isEmpty)
            for file in files {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: "\(root)/\(file)", isDirectory: &isDirectory), !isDirectory.boolValue,
                    let data = FileManager.default.contents(atPath: "\(root)/\(file)")
                else { continue }
                places.append(("\(root == work ? "work dir" : "artifact") \(file)", data))
            }
        }
        #expect(places.contains { $0.0.contains("logs/train.log") }, "the uploaded log is among the artifacts checked")
        #expect(places.contains { $0.0.contains("leases") || $0.0.contains("journal") || $0.0.hasPrefix("work dir runs/") })
        for (what, canary) in canaries {
            let needle = Data(canary.utf8)
            for (place, data) in places where data.range(of: needle) != nil {
                Issue.record("the \(what) canary is in \(place)")
            }
        }
    }
}

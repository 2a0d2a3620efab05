import Foundation
import GuardianFlow
import MLflow
import S3
import Testing
import TestSupport

/// An MLflow server whose artifact root is `s3://` on a signing S3 server (no proxy):
/// guardianflow writes the artifacts itself with its S3 client.
@Suite("train with artifacts straight to S3", .s3Server, .serialized)
struct S3TrainingTests {
    func withServers(_ body: (S3TestServer, MLflowTestServer, String) async throws -> Void) async throws {
        let s3 = try currentS3Server()
        let bucket = "mlflow-\(UUID().uuidString.prefix(6).lowercased())"
        let client = S3Client(
            configuration: S3Configuration(endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey))
        try await client.createBucket(bucket)
        let mlflow = try await MLflowTestServer.start(defaultArtifactRoot: "s3://\(bucket)/mlruns", extraEnvironment: s3.environment)
        try await withStopping(mlflow) { try await body(s3, $0, bucket) }
    }

    func trainArguments(_ experiment: String) -> [String] {
        ["train", "--experiment", experiment, "--data", TestEnvironment.repoRoot + "/examples/ppe-sample/data.yaml", "--model",
         "yolov8n.yaml", "--epochs", "1", "--batch", "8", "--imgsz", "64", "--device", "cpu", "--arg", "plots=false", "--json"]
    }

    @Test("train writes to S3; the official client downloads the weights, ultralytics loads them, the SHA-256 tag matches; pull too")
    func endToEnd() async throws {
        try await withServers { s3, mlflow, bucket in
            let environment = TestEnvironment.cleanEnvironment(
                s3.environment.merging(["MLFLOW_TRACKING_URI": mlflow.uri, "GUARDIANFLOW_WORK_DIR": TestEnvironment.temporaryDirectory("s3work")]) { _, b in b })
            let result = try await CLI.run(trainArguments("s3-e2e"), environment: environment, timeout: .seconds(300))
            #expect(result.exitCode == 0, "\(result.stderr.suffix(2000))")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            let runId = try #require(json["run_id"] as? String)
            let run = try await mlflow.client().getRun(id: runId)
            #expect(run.info.artifactURI.hasPrefix("s3://\(bucket)/mlruns/"))

            let client = S3Client(
                configuration: S3Configuration(endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey))
            let keys = try await client.listObjects(bucket: bucket, prefix: "mlruns/").map(\.key)
            #expect(keys.contains { $0.hasSuffix("\(runId)/artifacts/weights/best.pt") })
            #expect(keys.contains { $0.hasSuffix("\(runId)/artifacts/logs/train.log") })

            let check = try await Python.run(
                """
                import hashlib, os, mlflow
                from ultralytics import YOLO
                d = mlflow.artifacts.download_artifacts('models:/s3-e2e@candidate', dst_path='\(TestEnvironment.temporaryDirectory("s3dl"))')
                v = mlflow.MlflowClient().get_model_version_by_alias('s3-e2e', 'candidate')
                p = os.path.join(d, 'best.pt')
                h = hashlib.sha256(open(p, 'rb').read()).hexdigest()
                m = YOLO(p)
                print('ok' if h == v.tags['weights.sha256'] and sorted(m.names.values()) == ['helmet', 'vest'] else 'mismatch')
                """,
                environment: s3.environment.merging(
                    ["MLFLOW_TRACKING_URI": mlflow.uri, "YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": TestEnvironment.temporaryDirectory("y")]) { _, b in b })
            #expect(check.trimmingCharacters(in: .whitespacesAndNewlines).hasSuffix("ok"))

            let pulled = try await CLI.run(
                ["pull", "s3-e2e@candidate", "-o", TestEnvironment.temporaryDirectory("s3pull")], environment: environment)
            #expect(pulled.exitCode == 0, "\(pulled.stderr)")
            #expect(pulled.stdout.contains("verified"))

            let doctor = try await CLI.run(["doctor", "--json"], environment: environment)
            let checks = try #require(try JSONSerialization.jsonObject(with: Data(doctor.stdout.utf8)) as? [[String: Any]])
            #expect(checks.first { $0["name"] as? String == "S3 store" }?["outcome"] as? String == "ok")
        }
    }

    @Test("wrong S3 credentials: exit 77 within seconds, naming endpoint and bucket, never the secret; no run created")
    func wrongCredentials() async throws {
        try await withServers { s3, mlflow, bucket in
            var environment = TestEnvironment.cleanEnvironment(
                s3.environment.merging(["MLFLOW_TRACKING_URI": mlflow.uri, "GUARDIANFLOW_WORK_DIR": TestEnvironment.temporaryDirectory("s3bad")]) { _, b in b })
            environment["AWS_SECRET_ACCESS_KEY"] = "not-the-secret-canary"
            let result = try await CLI.run(trainArguments("s3-bad"), environment: environment, timeout: .seconds(60))
            #expect(result.exitCode == 77, "\(result.stderr)")
            #expect(result.seconds < 10)
            #expect(result.stderr.contains(s3.endpoint))
            #expect(result.stderr.contains(bucket))
            #expect(!result.stderr.contains("not-the-secret-canary"))
            let experiment = try await mlflow.client().getExperiment(named: "s3-bad")
            if let experiment {
                #expect(try await mlflow.client().allRuns(experimentIds: [experiment.experimentId]).isEmpty)
            }
            let doctor = try await CLI.run(["doctor"], environment: environment)
            #expect(doctor.exitCode == 77)
            #expect(!doctor.stdout.contains("not-the-secret-canary"))
        }
    }

    /// A run on the S3 store, as a dead training left it: RUNNING, files in a save dir, and a
    /// journal whose last record plans its end.
    func deadRun(_ mlflow: MLflowTestServer, work: String, plan: (RunInfo, String, Int) -> JournalRecord) async throws -> RunInfo {
        let client = try mlflow.client()
        let experiment = try await client.getOrCreateExperiment(named: "dead-\(UUID().uuidString.prefix(6))")
        let run = try await client.createRun(experimentId: experiment.experimentId)
        let saveDir = "\(work)/runs/\(run.runId)"
        try FileManager.default.createDirectory(atPath: saveDir + "/weights", withIntermediateDirectories: true)
        try Data(repeating: 3, count: 2000).write(to: URL(fileURLWithPath: saveDir + "/weights/best.pt"))
        try "epoch,metrics/mAP50(B)\n1,0.5\n".write(toFile: saveDir + "/results.csv", atomically: true, encoding: .utf8)
        try "trainer log\n".write(toFile: saveDir + ".log", atomically: true, encoding: .utf8)
        try RunJournal(workDir: work, runId: run.runId).append { plan(run, saveDir, $0) }
        return run
    }

    @Test("sync without S3 settings for an s3:// run: exit 65 naming the settings, nothing written anywhere, nothing registered, the journal kept; sync with them finishes it")
    func syncWithoutS3Settings() async throws {
        try await withServers { s3, mlflow, _ in
            let work = TestEnvironment.temporaryDirectory("s3sync")
            let model = "s3-sync-\(UUID().uuidString.prefix(6))"
            let run = try await deadRun(mlflow, work: work) { run, saveDir, seq in
                .finish(
                    seq: seq, FinishPlan(
                        runId: run.runId, experimentId: run.experimentId, artifactURI: run.artifactURI, saveDir: saveDir,
                        logFile: saveDir + ".log", manifestFile: saveDir + ".manifest.json", epochsCompleted: 1,
                        bestMetrics: ["mAP50": 0.5], modelName: model, alias: "candidate", versionTags: [:]))
            }
            let cwd = TestEnvironment.temporaryDirectory("s3sync-cwd")
            let bare = TestEnvironment.cleanEnvironment(["MLFLOW_TRACKING_URI": mlflow.uri, "GUARDIANFLOW_WORK_DIR": work])
            let refused = try await CLI.run(["sync"], environment: bare, workingDirectory: cwd)
            #expect(refused.exitCode == 65, "\(refused.stdout)\(refused.stderr)")
            #expect(refused.stderr.contains("MLFLOW_S3_ENDPOINT_URL"), "\(refused.stderr)")
            #expect(refused.stderr.contains("AWS_ACCESS_KEY_ID"), "\(refused.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: cwd).isEmpty, "nothing written in the working directory")
            let client = try mlflow.client()
            #expect(try await client.getRegisteredModel(name: model) == nil)
            #expect(try await client.getRun(id: run.runId).info.status == .running)
            #expect(FileManager.default.fileExists(atPath: "\(work)/journal/\(run.runId).jsonl"))

            let synced = try await CLI.run(
                ["sync", "--json"], environment: bare.merging(s3.environment) { $1 }, workingDirectory: cwd, timeout: .seconds(120))
            #expect(synced.exitCode == 0, "\(synced.stderr)")
            #expect(try await client.getRun(id: run.runId).info.status == .finished)
            #expect(try await client.allModelVersions(name: model).map(\.runId) == [run.runId])
            #expect(!FileManager.default.fileExists(atPath: "\(work)/journal/\(run.runId).jsonl"))
        }
    }

    enum UploadFailure: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case storeDown = "S3 not answering: the plan is kept (69)"
        case credentials = "credentials refused: the plan is kept (77)"
        case unreadable = "last.pt cannot be read: KILLED, tagged with what is missing"
        var testDescription: String { rawValue }
    }

    @Test("an end whose uploads fail never claims the missing file", arguments: UploadFailure.allCases)
    func endWithFailedUpload(_ failure: UploadFailure) async throws {
        try await withServers { s3, mlflow, _ in
            let work = TestEnvironment.temporaryDirectory("s3end")
            let run = try await deadRun(mlflow, work: work) { run, saveDir, seq in
                .end(
                    seq: seq, EndPlan(
                        runId: run.runId, artifactURI: run.artifactURI, status: "KILLED",
                        tags: [KeyValue(key: "guardianflow.error.kind", value: "interrupted")],
                        uploads: [saveDir + ".log": "logs/train.log", saveDir + "/weights/last.pt": "weights/last.pt"],
                        endTime: mlflowTimestamp()))
            }
            let lastPt = "\(work)/runs/\(run.runId)/weights/last.pt"
            var environment = s3.environment.merging(["MLFLOW_TRACKING_URI": mlflow.uri, "GUARDIANFLOW_WORK_DIR": work]) { $1 }
            switch failure {
            case .storeDown: environment["MLFLOW_S3_ENDPOINT_URL"] = "http://127.0.0.1:\(TestEnvironment.freePort())"
            case .credentials: environment["AWS_SECRET_ACCESS_KEY"] = "wrong-secret"
            // A folder where last.pt should be: it exists, and no upload can read it.
            case .unreadable: try FileManager.default.createDirectory(atPath: lastPt, withIntermediateDirectories: true)
            }
            let settings = try ConfigLoader(environment: environment).load()
            let client = try mlflow.client()
            var recovery = RunRecovery(settings: settings, client: client)
            recovery.patience = .seconds(10)
            let outcome = try #require(await recovery.recover(reap: false).first)
            let after = try await client.getRun(id: run.runId)
            switch failure {
            case .storeDown, .credentials:
                #expect(outcome.action == .skipped)
                #expect(outcome.exitCode == (failure == .storeDown ? 69 : 77), "\(outcome)")
                #expect(after.info.status == .running)
                #expect(FileManager.default.fileExists(atPath: "\(work)/journal/\(run.runId).jsonl"), "the plan waits for the next sync")
            case .unreadable:
                #expect(outcome.action == .ended, "\(outcome)")
                #expect(after.info.status == .killed)
                #expect(after.tags["guardianflow.missing_artifacts"]?.contains("weights/last.pt") == true, "\(after.tags)")
                let files = try await S3Client(
                    configuration: S3Configuration(endpoint: s3.endpoint, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey)
                ).listObjects(bucket: String(run.artifactURI.dropFirst(5).prefix { $0 != "/" }), prefix: "").map(\.key)
                #expect(files.contains { $0.hasSuffix("\(run.runId)/artifacts/logs/train.log") }, "\(files)")
                #expect(!files.contains { $0.hasSuffix("\(run.runId)/artifacts/weights/last.pt") }, "\(files)")
            }
        }
    }
}

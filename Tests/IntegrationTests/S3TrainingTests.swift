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
}

import Foundation
import GuardianFlow
import MLflow
import Testing
import TestSupport

/// A server that does not proxy artifacts and gives runs `file:` artifact URIs: guardianflow
/// writes the files itself, and MLflow's Python client reads them back.
@Suite("train with a local (file:) artifact store")
struct LocalArtifactStoreTests {
    @Test("artifacts land under the file: root and the registered weights download and hash right")
    func fileArtifacts() async throws {
        let root = TestEnvironment.temporaryDirectory("artifact-root")
        try await withStopping(try await MLflowTestServer.start(defaultArtifactRoot: "file://\(root)")) { server in
            let result = try await CLI.run(
                ["train", "--experiment", "local-art", "--data", TestEnvironment.repoRoot + "/examples/ppe-sample/data.yaml",
                 "--model", "yolov8n.yaml", "--epochs", "1", "--batch", "8", "--imgsz", "64", "--device", "cpu",
                 "--arg", "plots=false", "--json"],
                environment: TestEnvironment.cleanEnvironment([
                    "MLFLOW_TRACKING_URI": server.uri, "GUARDIANFLOW_WORK_DIR": TestEnvironment.temporaryDirectory("work"),
                ]), timeout: .seconds(300))
            #expect(result.exitCode == 0, "\(result.stderr.suffix(2000))")
            let output = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            let runId = try #require(output["run_id"] as? String)
            let run = try await server.client().getRun(id: runId)
            #expect(run.info.artifactURI.hasPrefix("file://\(root)"))
            let local = LocalArtifactStore.path(ofFileURI: run.info.artifactURI)
            #expect(FileManager.default.fileExists(atPath: local + "/weights/best.pt"))
            #expect(FileManager.default.fileExists(atPath: local + "/logs/train.log"))
            let sha = try await Python.run(
                """
                import hashlib, os, mlflow
                d = mlflow.artifacts.download_artifacts('models:/local-art@candidate', dst_path='\(TestEnvironment.temporaryDirectory("dl"))')
                v = mlflow.MlflowClient().get_model_version_by_alias('local-art', 'candidate')
                h = hashlib.sha256(open(os.path.join(d, 'best.pt'), 'rb').read()).hexdigest()
                print('ok' if h == v.tags['weights.sha256'] else 'mismatch')
                """, environment: server.pythonEnvironment)
            #expect(sha.trimmingCharacters(in: .whitespacesAndNewlines) == "ok")
        }
    }
}

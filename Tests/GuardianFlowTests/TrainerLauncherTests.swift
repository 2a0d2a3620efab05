#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow
import Testing

@Suite("The Python trainer launcher's child environment")
struct TrainerLauncherTests {
    let launcher = PythonTrainerLauncher(
        python: PythonEnvironment(python: "/venv/bin/python"), configDirectory: "/work/ultralytics-config")

    @Test("the replay variables a user may have set never reach the trainer: it always trains")
    func replayVariablesAreDropped() {
        let child = launcher.childEnvironment([
            "GUARDIANFLOW_TRAINER_REPLAY": "/tmp/recording",
            "GUARDIANFLOW_TRAINER_REPLAY_DELAY": "0.3",
            "PATH": "/usr/bin:/bin",
        ])
        #expect(child["GUARDIANFLOW_TRAINER_REPLAY"] == nil)
        #expect(child["GUARDIANFLOW_TRAINER_REPLAY_DELAY"] == nil)
        #expect(child["PATH"] == "/usr/bin:/bin")
    }

    @Test("no MLflow, AWS or guardianflow setting reaches the trainer; only the parent's pid is added")
    func settingsAreDropped() {
        let base = [
            "MLFLOW_TRACKING_URI": "http://u:p@mlflow", "MLFLOW_TRACKING_TOKEN": "t", "AWS_SECRET_ACCESS_KEY": "s",
            "AWS_ACCESS_KEY_ID": "a", "GUARDIANFLOW_PYTHON": "/venv/bin/python", "GUARDIANFLOW_WORK_DIR": "/w",
            "GUARDIANFLOW_ANYTHING_NEW": "x", "S3_ENDPOINT_URL": "http://s3", "WORK_DIR": "/w",
            "ULTRALYTICS_API_KEY": "k", "HOME": "/home/u", "PYTHONPATH": "/p", "YOLO_OFFLINE": "0",
        ]
        let child = launcher.childEnvironment(base)
        #expect(child.keys.filter { $0.hasPrefix("GUARDIANFLOW_") } == ["GUARDIANFLOW_PARENT_PID"])
        #expect(child["GUARDIANFLOW_PARENT_PID"] == String(getpid()))
        for key in base.keys where key.hasPrefix("MLFLOW_") || key.hasPrefix("AWS_") {
            #expect(child[key] == nil, "\(key)")
        }
        #expect(child["S3_ENDPOINT_URL"] == nil && child["WORK_DIR"] == nil && child["ULTRALYTICS_API_KEY"] == nil)
        #expect(child["HOME"] == "/home/u" && child["PYTHONPATH"] == "/p")
        #expect(child["YOLO_OFFLINE"] == "1" && child["YOLO_CONFIG_DIR"] == "/work/ultralytics-config")
        #expect(child["PYTHONUNBUFFERED"] == "1")
    }
}

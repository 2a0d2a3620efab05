import Foundation
import GuardianFlow
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("The Python trainer launcher: its child's environment, its stop")
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

    @Test("a stop ends the trainer's workers in sessions of their own too (torch.distributed.run's), even one that ignores SIGTERM")
    func stopEndsWorkersInOtherSessions() async throws {
        let directory = TestEnvironment.temporaryDirectory("ddp-stop")
        let pidFile = directory + "/worker.pid"
        // A trainer that starts a worker in a new session, as torchrun does, and waits.
        try ReplayingPython.writeExecutable(
            """
            #!/bin/sh
            setsid sh -c 'trap "" TERM; echo $$ > \(pidFile); exec sleep 300' &
            exec sleep 300
            """, to: directory + "/python")
        let launcher = PythonTrainerLauncher(
            python: PythonEnvironment(python: directory + "/python"), configDirectory: directory + "/config")
        let job = TrainingJob(
            model: "yolov8n.yaml", data: "/nonexistent/data.yaml", epochs: 1, batch: 8, imgsz: 64, device: "0,1", project: directory,
            name: "run", workers: nil, seed: nil, args: [:])
        let trainer = try launcher.launch(job, logFile: directory + "/train.log")
        let group = try #require(trainer.processGroup)
        TestEnvironment.register(pgid: group)
        defer { TestEnvironment.unregister(pgid: group) }
        var worker: Int32?
        let deadline = ContinuousClock.now + .seconds(20)
        while worker == nil, ContinuousClock.now < deadline {
            worker = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap {
                Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let pid = try #require(worker, "the worker never started")
        defer { kill(pid, SIGKILL) }
        #expect(ProcFS().group(group).pids.contains(pid), "the worker is counted as the trainer's")
        await trainer.stop(grace: .seconds(1))
        let gone = ContinuousClock.now + .seconds(5)
        func running() -> Bool {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.range(of: ") ", options: .backwards)
            else { return false }
            return stat[close.upperBound...].first != "Z"
        }
        while running(), ContinuousClock.now < gone { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!running(), "the worker outlived the stop")
    }
}

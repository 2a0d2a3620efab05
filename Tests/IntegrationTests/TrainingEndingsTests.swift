#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow
import MLflow
import Testing
import TestSupport

/// The endings of a run that need hardware or exact timing, driven through the library with a
/// replayed trainer against a real MLflow server.
@Suite("Training endings (replayed trainer)", .mlflowServer)
struct TrainingEndingsTests {
    static let data = TestEnvironment.repoRoot + "/examples/ppe-sample/data.yaml"

    func runner(_ server: MLflowTestServer, experiment: String, events: [TrainerEvent], hang: Bool = false, exitCode: Int32 = 0,
                delay: Duration = .zero, control: TrainingControl = TrainingControl(), environment: [String: String] = [:],
                onProgress: @escaping @Sendable (TrainingProgress) -> Void = { _ in }) throws -> TrainingRunner {
        let settings = try ConfigLoader(environment: [
            "MLFLOW_TRACKING_URI": server.uri, "GUARDIANFLOW_WORK_DIR": TestEnvironment.temporaryDirectory("endings"),
            "GUARDIANFLOW_PYTHON": TestEnvironment.python,
        ].merging(environment) { $1 }).load()
        var runner = TrainingRunner(
            experimentName: experiment, modelArch: "yolov8n.yaml", dataYAML: Self.data, settings: settings, control: control,
            onProgress: onProgress)
        runner.launcher = ReplayTrainerLauncher(events: events, hangAfterEvents: hang, exitCode: exitCode, delay: delay)
        return runner
    }

    static let started = TrainerEvent.started(
        .init(pid: 1, saveDir: "/tmp/x", ultralytics: "8.4.190", torch: "2", device: "cuda:0", epochs: 3, startEpoch: 1, resume: false,
              args: ["epochs": "3", "batch": "64"]))
    static func epoch(_ n: Int) -> TrainerEvent {
        .epoch(.init(epoch: n, epochs: 3, time: Double(n), metrics: ["metrics/mAP50-95(B)": 0.1 * Double(n), "train/box_loss": 1.0],
                     learningRates: ["lr/pg0": 0.01]))
    }

    @Test("out of memory: exit 4 with the batch hint, run FAILED with kind oom")
    func outOfMemory() async throws {
        let server = try currentServer()
        let experiment = "oom-\(UUID().uuidString.prefix(6))"
        let runner = try runner(
            server, experiment: experiment,
            events: [Self.started, Self.epoch(1), .error(kind: "oom", message: "CUDA out of memory. Tried to allocate 2.00 GiB", traceback: "")],
            exitCode: 1)
        do {
            _ = try await runner.run(epochs: 3, batchSize: 64)
            Issue.record("expected out of memory")
        } catch let error as GuardianFlowError {
            #expect(error.exitCode == 4)
            #expect(error.description.contains("smaller --batch"))
            #expect(error.description.contains("--batch -1"))
        }
        let client = try server.client()
        let run = try await server.onlyRun(inExperiment: experiment)
        #expect(run.info.status == .failed)
        #expect(run.tags["guardianflow.error.kind"] == "oom")
        #expect(try await client.metricHistory(runId: run.info.runId, key: "mAP50_95").map(\.step) == [1])
    }

    @Test("a stop (Ctrl-C) mid-training: run KILLED with its tags, exit 130; --resume offered only when last.pt was uploaded",
          arguments: [true, false])
    func stopped(withLastPt: Bool) async throws {
        let server = try currentServer()
        let control = TrainingControl()
        let experiment = "stop-\(UUID().uuidString.prefix(6))"
        var runner = try runner(
            server, experiment: experiment, events: [Self.started, Self.epoch(1), Self.epoch(2)], hang: true, control: control)
        let replay = ReplayTrainerLauncher(events: [Self.started, Self.epoch(1), Self.epoch(2)], hangAfterEvents: true)
        runner.launcher = withLastPt ? WeightsWritingLauncher(inner: replay) as any TrainerLauncher : replay
        let task = Task { try await runner.run(epochs: 3, batchSize: 8) }
        try await Task.sleep(for: .seconds(1))
        control.stop(signal: SIGINT)
        do {
            _ = try await task.value
            Issue.record("expected an interruption")
        } catch let error as GuardianFlowError {
            #expect(error.exitCode == 130)
            #expect(error.description.contains("is KILLED"), "\(error)")
            #expect(error.description.contains("train --resume") == withLastPt, "\(error)")
            #expect(error.description.contains("cannot be resumed") == !withLastPt, "\(error)")
        }
        #expect(control.endedStatus == .killed)
        let client = try server.client()
        let run = try await server.onlyRun(inExperiment: experiment)
        #expect(run.info.status == .killed)
        #expect(run.tags["guardianflow.error.kind"] == "interrupted")
        #expect(run.tags["guardianflow.error.signal"] == String(SIGINT))
        let artifacts = try await client.listArtifacts(runId: run.info.runId, path: "weights").map(\.path)
        #expect(artifacts.contains("weights/last.pt") == withLastPt, "\(artifacts)")
    }

    @Test("cancelling the task ends the run KILLED too")
    func cancelled() async throws {
        let server = try currentServer()
        let experiment = "cancel-\(UUID().uuidString.prefix(6))"
        let (epochs, continuation) = AsyncStream.makeStream(of: Int.self)
        let runner = try runner(server, experiment: experiment, events: [Self.started, Self.epoch(1)], hang: true) { progress in
            if case .epoch = progress.phase { continuation.yield(progress.epoch) }
        }
        let task = Task { try await runner.run(epochs: 3, batchSize: 8) }
        var iterator = epochs.makeAsyncIterator()
        #expect(await iterator.next() == 1)
        task.cancel()
        await #expect(throws: GuardianFlowError.self) { try await task.value }
        let run = try await server.onlyRun(inExperiment: experiment)
        #expect(run.info.status == .killed)
        #expect(run.tags["guardianflow.error.kind"] == "interrupted")
    }

    @Test("a trainer that dies without a word ends the run FAILED with its log tail; exit 3")
    func silentCrash() async throws {
        let server = try currentServer()
        let experiment = "crash-\(UUID().uuidString.prefix(6))"
        let runner = try runner(server, experiment: experiment, events: [Self.started], exitCode: 139)
        do {
            _ = try await runner.run(epochs: 3, batchSize: 8)
            Issue.record("expected the training to fail")
        } catch let error as GuardianFlowError {
            #expect(error.exitCode == 3)
            #expect(error.description.contains("exit code 139"))
            // The replayed trainer's log is one line: it is the tail the message quotes.
            #expect(error.description.contains("replayed trainer log"), "\(error)")
        }
        let run = try await server.onlyRun(inExperiment: experiment)
        #expect(run.info.status == .failed)
        #expect(run.tags["guardianflow.error.kind"] == "other")
        #expect(run.tags["guardianflow.error.message"]?.contains("replayed trainer log") == true)
    }

    @Test("GPU metrics through NVML (the stand-in library): system/gpu_0 series, the sys/ summary and the tag, read by the Python client")
    func gpuMetrics() async throws {
        let server = try currentServer()
        let fake = try await FakeNVML.build(["FAKE_DEVICES=1"])
        let saveDir = TestEnvironment.temporaryDirectory("gpu-run")
        try FileManager.default.createDirectory(atPath: saveDir + "/weights", withIntermediateDirectories: true)
        try Data(repeating: 7, count: 3_000_000).write(to: URL(fileURLWithPath: saveDir + "/weights/best.pt"))
        var started = Self.started
        if case .started(var event) = started {
            event.deviceUUID = "GPU-fake-0000"
            started = .started(event)
        }
        let finished = TrainerEvent.finished(
            .init(saveDir: saveDir, best: saveDir + "/weights/best.pt", last: nil, epochsCompleted: 3,
                  bestMetrics: ["metrics/mAP50-95(B)": 0.3], speedMs: ["inference": 1.25], resultsCSV: nil, argsYAML: nil))
        let experiment = "gpu-\(UUID().uuidString.prefix(6))"
        let runner = try runner(
            server, experiment: experiment, events: [started, Self.epoch(1), Self.epoch(2), Self.epoch(3), finished],
            delay: .milliseconds(400),
            environment: ["GUARDIANFLOW_NVML_LIBRARY": fake.path, "GUARDIANFLOW_SYSTEM_METRICS_INTERVAL": "0.2"])
        let result = try await runner.run(epochs: 3, batchSize: 8)
        #expect(result.status == .finished)

        let check = try await Python.json(
            """
            import json
            from mlflow import MlflowClient
            c = MlflowClient()
            run = c.get_run('\(result.runId)')
            series = {k: [(m.step, m.value) for m in sorted(c.get_metric_history(run.info.run_id, k), key=lambda m: m.step)]
                      for k in run.data.metrics if k.startswith('system/')}
            print(json.dumps({'series': series, 'sys': {k: v for k, v in run.data.metrics.items() if k.startswith('sys/')},
                              'tag': run.data.tags.get('guardianflow.gpu_metrics')}))
            """, environment: server.pythonEnvironment)
        let py = try #require(check as? [String: Any])
        let series = try #require(py["series"] as? [String: [[Double]]])
        let utilization = try #require(series["system/gpu_0_utilization_percentage"])
        #expect(utilization.count >= 3, "\(series.keys.sorted())")
        #expect(utilization.allSatisfy { $0[1] == 40 })
        #expect(series["system/gpu_0_power_usage_watts"]?.allSatisfy { $0[1] == 350 } == true)
        #expect(series["system/gpu_0_temperature_celsius"]?.isEmpty == false)
        let memory = try #require(series["system/gpu_0_memory_usage_megabytes"]).map { $0[1] }
        #expect(memory == memory.sorted() && Set(memory).count == memory.count, "the stand-in's memory grows per query: \(memory)")
        // Steps count samples from 0, each once.
        let steps = try #require(series["system/system_memory_usage_megabytes"]).map { Int($0[0]) }
        #expect(steps == Array(0..<steps.count))
        #expect(!series.keys.contains { $0.hasPrefix("system/gpu_1") })
        let sys = try #require(py["sys"] as? [String: Double])
        #expect(sys["sys/gpu_memory_used_mb"] == memory.max())
        #expect(sys["sys/gpu_utilization_pct"] == 40)
        #expect(sys["sys/inference_time_ms"] == 1.25)
        #expect(sys["sys/model_size_mb"] == 3)
        let tag = try #require(py["tag"] as? String)
        #expect(tag.contains("Fake GPU 0") && tag.contains("system/gpu_0_"), "\(tag)")
    }

    @Test("a multi-GPU (DDP) training: each GPU it names is metered as system/gpu_N, the others are not")
    func multiGPUMetrics() async throws {
        let server = try currentServer()
        let fake = try await FakeNVML.build(["FAKE_DEVICES=3"])
        let saveDir = TestEnvironment.temporaryDirectory("ddp-run")
        try FileManager.default.createDirectory(atPath: saveDir + "/weights", withIntermediateDirectories: true)
        try Data(repeating: 7, count: 1_000_000).write(to: URL(fileURLWithPath: saveDir + "/weights/best.pt"))
        // What the bridge reports for --device 0,2: the DDP device list and each GPU's UUID.
        let started = TrainerEvent.started(
            .init(pid: 1, saveDir: saveDir, ultralytics: "8.4.190", torch: "2", device: "cuda:0,2", epochs: 3, startEpoch: 1,
                  resume: false, args: ["epochs": "3", "batch": "64", "device": "0,2"], deviceUUID: "GPU-fake-0000",
                  devices: [.init(device: "cuda:0", uuid: "GPU-fake-0000"), .init(device: "cuda:2", uuid: "GPU-fake-0002")]))
        let finished = TrainerEvent.finished(
            .init(saveDir: saveDir, best: saveDir + "/weights/best.pt", last: nil, epochsCompleted: 3,
                  bestMetrics: ["metrics/mAP50-95(B)": 0.3], speedMs: ["inference": 1.25], resultsCSV: nil, argsYAML: nil))
        let experiment = "ddp-\(UUID().uuidString.prefix(6))"
        let runner = try runner(
            server, experiment: experiment, events: [started, Self.epoch(1), Self.epoch(2), Self.epoch(3), finished],
            delay: .milliseconds(400),
            environment: ["GUARDIANFLOW_NVML_LIBRARY": fake.path, "GUARDIANFLOW_SYSTEM_METRICS_INTERVAL": "0.2"])
        let result = try await runner.run(epochs: 3, batchSize: 64)
        #expect(result.status == .finished)

        let check = try await Python.json(
            """
            import json
            from mlflow import MlflowClient
            c = MlflowClient()
            run = c.get_run('\(result.runId)')
            print(json.dumps({'keys': sorted(k for k in run.data.metrics if k.startswith('system/gpu')),
                              'counts': {k: len(c.get_metric_history(run.info.run_id, k)) for k in run.data.metrics if k.startswith('system/gpu')},
                              'tag': run.data.tags.get('guardianflow.gpu_metrics'), 'device': run.data.params.get('device')}))
            """, environment: server.pythonEnvironment)
        let py = try #require(check as? [String: Any])
        let keys = try #require(py["keys"] as? [String])
        #expect(keys.contains("system/gpu_0_utilization_percentage") && keys.contains("system/gpu_2_utilization_percentage"), "\(keys)")
        #expect(keys.contains("system/gpu_2_memory_usage_megabytes"), "\(keys)")
        #expect(!keys.contains { $0.hasPrefix("system/gpu_1_") }, "GPU 1 is not the training's: \(keys)")
        let counts = try #require(py["counts"] as? [String: Int])
        #expect((counts["system/gpu_2_utilization_percentage"] ?? 0) >= 3, "\(counts)")
        let tag = try #require(py["tag"] as? String)
        #expect(tag.contains("system/gpu_0_*, system/gpu_2_*") && tag.contains("Fake GPU 0") && tag.contains("Fake GPU 2"), "\(tag)")
    }
}

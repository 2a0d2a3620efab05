#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow
import HTTPSupport
import MLflow
import Testing
import TestSupport

/// The NVML binding against a stand-in library built from C with NVML's symbols and struct
/// layouts; the /proc sampler against real processes; the monitor's batching.
@Suite("System and GPU metrics")
struct SystemMetricsTests {
    // MARK: NVML

    @Test("NVML from the stand-in: devices by index and UUID, memory, utilization, power, temperature")
    func nvmlReadings() async throws {
        let fake = try await FakeNVML.build()
        let nvml = try NVML.open(path: fake.path)
        #expect(try nvml.deviceCount() == 2)
        let first = try nvml.device(index: 0)
        #expect(first.name == "Fake GPU 0")
        #expect(first.uuid == "GPU-fake-0000")
        let second = try nvml.device(uuid: "GPU-fake-0001")
        #expect(second.name == "Fake GPU 1")

        let a = try nvml.read(first)
        let b = try nvml.read(first)
        #expect(a.memoryTotalBytes == 80_000_000_000)
        #expect(b.memoryUsedBytes == a.memoryUsedBytes + 100_000_000)
        #expect(a.utilizationPercent == 40)
        #expect(a.powerWatts == 350)
        #expect(a.powerLimitWatts == 700)
        #expect(a.temperatureCelsius == 55)
        #expect(a.trainerMemoryBytes == nil)
        let other = try nvml.read(second)
        #expect(other.utilizationPercent == 50)
        #expect(other.temperatureCelsius == 56)
    }

    @Test("the trainer's GPU memory: its pids summed from the process list, which grows past the first buffer")
    func nvmlProcesses() async throws {
        let fake = try await FakeNVML.build()
        let nvml = try NVML.open(path: fake.path)
        for pid in 1000..<1020 { fake.addProcess(pid: Int32(pid), bytes: 1_000_000 * UInt64(pid - 999)) }
        let gpu = try nvml.device(index: 0)
        let listed = try #require(nvml.processes(gpu))
        #expect(listed.count == 20)  // more than the first 16-entry buffer: NVML_ERROR_INSUFFICIENT_SIZE, then again
        #expect(listed.first?.pid == 1000)
        #expect(listed.last?.usedBytes == 20_000_000)
        let reading = try nvml.read(gpu, trainerPids: [1000, 1019, 4242])
        #expect(reading.trainerMemoryBytes == 1_000_000 + 20_000_000)
        #expect(try nvml.read(gpu, trainerPids: [4242]).trainerMemoryBytes == nil)
    }

    @Test("NVML's failures are errors that say what they mean")
    func nvmlErrors() async throws {
        do {
            _ = try NVML.open(path: "/nonexistent/libnvidia-ml.so.1")
            Issue.record("expected libraryMissing")
        } catch {
            guard case .libraryMissing(let path, _) = error else { Issue.record("\(error)"); return }
            #expect(path == "/nonexistent/libnvidia-ml.so.1")
            #expect(error.description.contains("GUARDIANFLOW_NVML_LIBRARY"))
        }

        let notLoaded = try await FakeNVML.build(["FAKE_INIT_ERROR=9"])
        #expect(throws: NVMLError.call("nvmlInit_v2", code: 9, message: "Driver Not Loaded")) { try NVML.open(path: notLoaded.path) }

        let old = try await FakeNVML.build(["FAKE_OMIT_UUID"])
        #expect(throws: NVMLError.symbolMissing("nvmlDeviceGetUUID", path: old.path)) { try NVML.open(path: old.path) }

        let fake = try await FakeNVML.build(["FAKE_DEVICES=1"])
        let nvml = try NVML.open(path: fake.path)
        #expect(throws: NVMLError.call("nvmlDeviceGetHandleByIndex_v2", code: 2, message: "Invalid Argument")) { try nvml.device(index: 1) }
        #expect(throws: NVMLError.call("nvmlDeviceGetHandleByUUID", code: 6, message: "Not Found")) { try nvml.device(uuid: "GPU-nope") }
    }

    @Test("a GPU without power readings still reports the rest")
    func nvmlUnsupported() async throws {
        let fake = try await FakeNVML.build(["FAKE_NO_POWER"])
        let nvml = try NVML.open(path: fake.path)
        let reading = try nvml.read(try nvml.device(index: 0))
        #expect(reading.powerWatts == nil)
        #expect(reading.powerLimitWatts == nil)
        #expect(reading.utilizationPercent == 40)
    }

    @Test("doctor's probe: the GPUs by name, or absent with the loader's reason")
    func probe() async throws {
        let fake = try await FakeNVML.build()
        #expect(NVMLAvailability.probe(path: fake.path) == .available(path: fake.path, devices: ["Fake GPU 0", "Fake GPU 1"]))
        guard case .absent(let reason) = NVMLAvailability.probe(path: "/nonexistent/libnvidia-ml.so.1") else {
            Issue.record("expected absent")
            return
        }
        #expect(reason.contains("/nonexistent/libnvidia-ml.so.1"))
    }

    // MARK: Which GPU

    @Test(
        "the training's GPU: torch's device through CUDA_VISIBLE_DEVICES to NVML",
        arguments: [
            ("cpu", nil, nil, nil),
            ("mps", nil, nil, nil),
            ("cuda:0", nil, nil, GPUSelection(label: 0, target: .index(0))),
            ("cuda", nil, nil, GPUSelection(label: 0, target: .index(0))),
            ("1", nil, nil, GPUSelection(label: 1, target: .index(1))),
            ("cuda:1", nil, "2,3", GPUSelection(label: 1, target: .index(3))),
            ("cuda:0", nil, "GPU-abc, 1", GPUSelection(label: 0, target: .uuid("GPU-abc"))),
            ("cuda:0", "5f1e-77", "3", GPUSelection(label: 0, target: .uuid("GPU-5f1e-77"))),
            ("cuda:0", "GPU-5f1e-77", nil, GPUSelection(label: 0, target: .uuid("GPU-5f1e-77"))),
        ] as [(String, String?, String?, GPUSelection?)])
    func selection(device: String, uuid: String?, visible: String?, expected: GPUSelection?) throws {
        #expect(try GPUSelection.resolve(device: device, uuid: uuid, cudaVisibleDevices: visible) == expected)
    }

    @Test("an ordinal CUDA_VISIBLE_DEVICES does not list is an error naming both")
    func selectionError() {
        #expect {
            _ = try GPUSelection.resolve(device: "cuda:2", cudaVisibleDevices: "0")
        } throws: { "\($0)".contains("cuda:2") && "\($0)".contains("CUDA_VISIBLE_DEVICES='0'") }
    }

    // MARK: /proc

    @Test("/proc/PID/stat is parsed from the last ')', whatever the command name holds")
    func statParsing() throws {
        let text = "4242 (python (worker) 1) S 1 4240 4240 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 100 1000000 2560 18446744073709551615"
        let stat = try #require(ProcFS.parseStatForTesting(text))
        #expect(stat.pgrp == 4240)
        #expect(stat.ticks == 300)
        #expect(stat.rssPages == 2560)
        #expect(ProcFS.parseStatForTesting("garbage") == nil)
    }

    @Test("the machine's CPU and memory from /proc")
    func machine() {
        let proc = ProcFS()
        let cpu = proc.cpuTimes()
        #expect((cpu?.total ?? 0) > (cpu?.idle ?? 0))
        let memory = proc.memory()
        #expect((memory?.totalBytes ?? 0) > 100_000_000)
        #expect((memory?.usedBytes ?? 0) > 0)
    }

    @Test("the trainer's processes include those it starts in sessions of their own (torch.distributed.run's workers)")
    func descendantsInOtherSessions() async throws {
        // The trainer forks a worker that leaves for a session of its own, as torchrun starts DDP workers.
        let child = try ChildProcess.spawn(
            ProcessSpec(
                executable: TestEnvironment.python,
                arguments: [
                    "-c",
                    "import os, sys, time\nif os.fork() == 0:\n    os.setsid(); b = bytearray(80_000_000); time.sleep(30); os._exit(0)\ntime.sleep(30)",
                ],
                stdout: .null, stderr: .null, grouping: .newGroup))
        TestEnvironment.register(pgid: child.pid)
        defer {
            ProcFS().group(child.pid).pids.forEach { kill($0, SIGKILL) }
            TestEnvironment.unregister(pgid: child.pid)
        }
        let deadline = ContinuousClock.now + .seconds(30)
        var worker: Int32?
        var usage = ProcFS().group(child.pid)
        while ContinuousClock.now < deadline {
            usage = ProcFS().group(child.pid)
            worker = usage.pids.first { $0 != child.pid }
            if worker != nil, usage.residentBytes > 80_000_000 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let found = try #require(worker, "the worker in its own session is not counted: \(usage.pids)")
        #expect(ProcFS().runningMembers(of: child.pid) == [child.pid], "the worker is in another group")
        #expect(usage.pids == [child.pid, found])
        #expect(usage.residentBytes > 80_000_000, "the worker's memory counts: \(usage.residentBytes)")
    }

    @Test("a real child's process group: its processes, CPU and resident memory; GPU figures from the stand-in")
    func sampleRealChild() async throws {
        // A busy trainer-like child that forks a worker, in a group of its own.
        let child = try ChildProcess.spawn(
            ProcessSpec(
                executable: TestEnvironment.python,
                arguments: ["-c", "import os, time\nif os.fork() == 0:\n    time.sleep(30); os._exit(0)\nb = bytearray(50_000_000)\nt = time.time()\nwhile time.time() - t < 30: pass"],
                stdout: .null, stderr: .null, grouping: .newGroup))
        defer { child.signal(SIGKILL) }
        try await Task.sleep(for: .milliseconds(800))
        let fake = try await FakeNVML.build(["FAKE_DEVICES=1"])
        let nvml = try NVML.open(path: fake.path)
        fake.addProcess(pid: child.pid, bytes: 2_000_000_000)
        fake.addProcess(pid: 999_999, bytes: 5_000_000_000)  // someone else's

        let sampler = SystemSampler(trainerGroup: child.pid)
        sampler.setGPU(nvml: nvml, device: try nvml.device(index: 0), label: 0)
        let first = sampler.sample()
        #expect(first["system/cpu_utilization_percentage"] == nil)  // needs two readings
        #expect(first["system/trainer_cpu_utilization_percentage"] == nil)
        try await Task.sleep(for: .seconds(1.5))
        let second = sampler.sample()

        #expect(ProcFS().group(child.pid).pids.count == 2)
        // A busy loop; on a loaded machine it gets less than a core, but it gets some.
        #expect((2...210).contains(second["system/trainer_cpu_utilization_percentage"] ?? 0), "\(second)")
        #expect((second["system/trainer_memory_usage_megabytes"] ?? 0) > 50, "\(second)")
        #expect((0...100).contains(second["system/cpu_utilization_percentage"] ?? -1))
        #expect((second["system/system_memory_usage_megabytes"] ?? 0) > 100)
        #expect(second["system/gpu_0_utilization_percentage"] == 40)
        #expect(second["system/gpu_0_power_usage_watts"] == 350)
        #expect(second["system/gpu_0_power_usage_percentage"] == 50)
        #expect(second["system/gpu_0_temperature_celsius"] == 55)
        #expect(second["system/gpu_0_memory_usage_megabytes"] == 1100)
        #expect(second["system/gpu_0_memory_usage_percentage"] == 1.4)  // 1.1 GB of 80, rounded to one decimal
        #expect(second["system/gpu_0_trainer_memory_usage_megabytes"] == 2000)
        #expect(sampler.gpuSummary.peakMemoryMB == 1100)
        #expect(sampler.gpuSummary.meanUtilization == 40)
    }

    // MARK: The monitor

    @Test("the monitor: samples wait for the next log-batch; a whole interval without one, it sends them itself")
    func monitorBatching() async throws {
        let sent = Batches()
        let monitor = SystemMonitor(interval: .seconds(10), firstStep: 7) { metrics in
            await sent.append(metrics)
            return true
        }
        monitor.prime()
        await monitor.tick()
        let drained = monitor.drain()  // as the epoch's log-batch does
        #expect(Set(drained.map(\.step)) == [7])
        #expect(drained.contains { $0.key == "system/system_memory_usage_megabytes" })
        await monitor.tick()
        #expect(await sent.batches.isEmpty, "one interval without a log-batch: still waiting for one")
        await monitor.tick()
        #expect(await sent.batches.map { Set($0.map(\.step)) } == [[8, 9]], "the second interval: sent by the monitor")
        await monitor.tick()
        let rest = monitor.drain()
        let all = [drained] + (await sent.batches) + [rest]
        let steps = all.flatMap { $0 }.filter { $0.key == "system/system_memory_usage_megabytes" }.map(\.step)
        #expect(steps == [7, 8, 9, 10], "every sample once, in order")
        #expect(monitor.drain().isEmpty)
    }

    @Test("a batch the server refuses is kept for the next try, not lost")
    func monitorRetry() async throws {
        let sent = Batches()
        let monitor = SystemMonitor(interval: .seconds(10)) { metrics in
            await sent.append(metrics)
            return false
        }
        monitor.prime()
        for _ in 0..<5 { await monitor.tick() }
        let kept = monitor.drain().filter { $0.key == "system/system_memory_usage_megabytes" }.map(\.step)
        #expect(await sent.batches.count == 2)  // after the 2nd and the 4th tick
        #expect(kept == [0, 1, 2, 3, 4])
    }

    @Test("the running monitor samples on its own and stops when told")
    func monitorLoop() async throws {
        let sent = Batches()
        let monitor = SystemMonitor(interval: .milliseconds(20)) { metrics in
            await sent.append(metrics)
            return true
        }
        monitor.start()
        let deadline = ContinuousClock.now + .seconds(20)
        while await sent.batches.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        await monitor.stop()
        #expect(await !sent.batches.isEmpty)
        let count = await sent.batches.count
        _ = monitor.drain()
        try await Task.sleep(for: .milliseconds(200))
        #expect(await sent.batches.count == count, "nothing is sent after stop()")
        #expect(monitor.drain().isEmpty, "nothing is sampled after stop()")
    }

    actor Batches {
        var batches: [[Metric]] = []
        func append(_ batch: [Metric]) { batches.append(batch) }
    }

    @Test("the sys/ summary has only what was measured")
    func summary() {
        #expect(SystemMetrics(inferenceTimeMs: 2.5, modelSizeMB: 6.2).dictionary() == ["sys/inference_time_ms": 2.5, "sys/model_size_mb": 6.2])
        #expect(
            SystemMetrics(gpuMemoryUsedMB: 1200, gpuUtilizationPct: 40).dictionary().keys.sorted()
                == ["sys/gpu_memory_used_mb", "sys/gpu_utilization_pct"])
    }
}

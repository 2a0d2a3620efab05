import Foundation
import MLflow

/// Samples the machine, the trainer and its GPU every `interval` while a run trains (the
/// samples ride on the run's next log-batch; see ARCHITECTURE.md, "One `train`", step 3).
///
/// Samples wait in a buffer that the run's next log-batch takes along (``drain()``), so they cost
/// no request of their own while epochs are shorter than the interval; when a whole interval
/// passes without one (long GPU epochs) the monitor sends them itself. Steps count samples from
/// `firstStep`, as MLflow's monitor does; timestamps are the sampling times.
public final class SystemMonitor: @unchecked Sendable {
    public let interval: Duration
    let sampler: SystemSampler
    let deliver: @Sendable ([Metric]) async -> Bool
    let lock = NSLock()
    var pending: [Metric] = []
    var ticksSinceDrain = 0
    var nextStep: Int64
    var task: Task<Void, Never>?

    /// - Parameters:
    ///   - deliver: sends a batch on its own; false puts it back for the next try.
    public init(
        interval: Duration, sampler: SystemSampler = SystemSampler(), firstStep: Int64 = 0,
        deliver: @escaping @Sendable ([Metric]) async -> Bool
    ) {
        self.interval = interval
        self.sampler = sampler
        self.nextStep = firstStep
        self.deliver = deliver
    }

    /// Starts sampling: a baseline now, the first sample one interval later.
    public func start() {
        lock.withLock {
            _ = sampler.sample()
            task = Task.detached { [self] in await loop() }
        }
    }

    func loop() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            await tick()
        }
    }

    /// One sample; sends what is pending itself when a whole interval passed without a
    /// log-batch taking it (the loop calls this every interval; the package's tests call it
    /// directly, to step time themselves).
    package func tick() async {
        let batch: [Metric]? = lock.withLock {
            record(sampler.sample())
            ticksSinceDrain += 1
            guard ticksSinceDrain >= 2 else { return nil }
            return takePending()
        }
        if let batch, !batch.isEmpty, await !deliver(batch) {
            lock.withLock { pending = batch + pending }
        }
    }

    /// Takes the baseline sample without starting the loop (for driving ``tick()`` by hand).
    public func prime() {
        lock.withLock { _ = sampler.sample() }
    }

    /// Caller holds the lock.
    func record(_ sample: [String: Double]) {
        guard !sample.isEmpty else { return }
        let timestamp = mlflowTimestamp()
        pending += sample.sorted { $0.key < $1.key }.map { Metric(key: $0.key, value: $0.value, timestamp: timestamp, step: nextStep) }
        nextStep += 1
    }

    /// Caller holds the lock.
    func takePending() -> [Metric] {
        defer {
            pending = []
            ticksSinceDrain = 0
        }
        return pending
    }

    /// The samples not sent yet, for the run's next log-batch.
    public func drain() -> [Metric] {
        lock.withLock { takePending() }
    }

    /// The trainer's process group, once it runs.
    public func watch(trainerGroup: Int32?) {
        lock.withLock { sampler.trainerGroup = trainerGroup }
    }

    /// The training's GPUs (one, or each of a multi-GPU training's), once the trainer said which.
    public func watch(gpus nvml: NVML, devices: [(device: NVML.Device, label: Int)]) {
        lock.withLock { sampler.setGPUs(nvml: nvml, devices: devices) }
    }

    /// Peak memory and mean utilization of the GPU so far.
    public var gpuSummary: SystemSampler.GPUSummary {
        lock.withLock { sampler.gpuSummary }
    }

    /// Stops sampling; what is pending stays for ``drain()``.
    public func stop() async {
        let task = lock.withLock { self.task }
        task?.cancel()
        await task?.value
    }
}

import Foundation
import GuardianFlowCore

/// Turns /proc and NVML readings into MLflow's system metric names, the ones its UI's System Metrics tab charts:
/// `system/cpu_utilization_percentage`, `system/system_memory_usage_megabytes`,
/// `system/gpu_0_utilization_percentage`, … Values are rounded to one decimal and megabytes
/// are 10^6 bytes, as MLflow's own monitor writes them.
///
/// guardianflow adds the trainer's process group (`system/trainer_cpu_utilization_percentage`,
/// percent of one core; `system/trainer_memory_usage_megabytes`, resident) and per GPU its
/// temperature and the trainer's share of its memory. Not thread-safe: ``SystemMonitor`` owns it.
public final class SystemSampler {
    public let procFS: ProcFS
    /// The trainer's process group, once it runs.
    public var trainerGroup: Int32?
    /// The training's GPUs (one, or each of a multi-GPU training's), once the trainer has said which.
    public private(set) var gpus: [(nvml: NVML, device: NVML.Device, label: Int)] = []
    /// What the `sys/` summary needs from the samples so far.
    public private(set) var gpuSummary = GPUSummary()

    var previousCPU: ProcFS.CPUTimes?
    var previousTrainer: (ticks: UInt64, pids: Set<Int32>, at: ContinuousClock.Instant)?

    /// Peak memory and mean utilization of the training's GPUs over the samples: the peak of the
    /// fullest GPU, the mean over every GPU's samples.
    public struct GPUSummary: Sendable, Equatable {
        public var peakMemoryMB: Double?
        public var utilizationSum = 0.0
        public var utilizationSamples = 0
        public var meanUtilization: Double? { utilizationSamples > 0 ? utilizationSum / Double(utilizationSamples) : nil }
    }

    public init(procFS: ProcFS = ProcFS(), trainerGroup: Int32? = nil) {
        self.procFS = procFS
        self.trainerGroup = trainerGroup
    }

    public func setGPU(nvml: NVML, device: NVML.Device, label: Int) {
        gpus = [(nvml, device, label)]
    }

    /// A multi-GPU training's GPUs, each reported as `system/gpu_<label>_…`.
    public func setGPUs(nvml: NVML, devices: [(device: NVML.Device, label: Int)]) {
        gpus = devices.map { (nvml, $0.device, $0.label) }
    }

    /// One sample. CPU percentages need a previous sample: the first call only sets the baseline
    /// for them (memory and GPU figures are there from the first call).
    public func sample(at now: ContinuousClock.Instant = .now) -> [String: Double] {
        var metrics: [String: Double] = [:]
        if let cpu = procFS.cpuTimes() {
            if let previous = previousCPU, cpu.total > previous.total {
                let elapsed = cpu.total - previous.total
                let idle = min(cpu.idle >= previous.idle ? cpu.idle - previous.idle : 0, elapsed)
                metrics["system/cpu_utilization_percentage"] = Double(elapsed - idle) / Double(elapsed) * 100
            }
            previousCPU = cpu
        }
        if let memory = procFS.memory() {
            metrics["system/system_memory_usage_megabytes"] = Double(memory.usedBytes) / 1e6
            metrics["system/system_memory_usage_percentage"] = Double(memory.usedBytes) / Double(max(memory.totalBytes, 1)) * 100
        }
        var trainerPids: Set<Int32> = []
        if let group = trainerGroup {
            let usage = procFS.group(group)
            trainerPids = usage.pids
            if !usage.pids.isEmpty {
                metrics["system/trainer_memory_usage_megabytes"] = Double(usage.residentBytes) / 1e6
                if let previous = previousTrainer {
                    let seconds = Self.seconds(now - previous.at)
                    // Ticks of processes that ended since the last sample are gone: never below zero.
                    let ticks = usage.cpuTicks > previous.ticks ? usage.cpuTicks - previous.ticks : 0
                    if seconds > 0 {
                        metrics["system/trainer_cpu_utilization_percentage"] = Double(ticks) / ProcFS.ticksPerSecond / seconds * 100
                    }
                }
                previousTrainer = (usage.cpuTicks, usage.pids, now)
            }
        }
        for gpu in gpus {
            guard let reading = try? gpu.nvml.read(gpu.device, trainerPids: trainerPids) else { continue }
            let prefix = "system/gpu_\(gpu.label)_"
            let usedMB = Double(reading.memoryUsedBytes) / 1e6
            metrics[prefix + "memory_usage_megabytes"] = usedMB
            if reading.memoryTotalBytes > 0 {
                metrics[prefix + "memory_usage_percentage"] = Double(reading.memoryUsedBytes) / Double(reading.memoryTotalBytes) * 100
            }
            gpuSummary.peakMemoryMB = max(gpuSummary.peakMemoryMB ?? 0, usedMB)
            if let utilization = reading.utilizationPercent {
                metrics[prefix + "utilization_percentage"] = utilization
                gpuSummary.utilizationSum += utilization
                gpuSummary.utilizationSamples += 1
            }
            if let watts = reading.powerWatts {
                metrics[prefix + "power_usage_watts"] = watts
                if let limit = reading.powerLimitWatts { metrics[prefix + "power_usage_percentage"] = watts / limit * 100 }
            }
            if let celsius = reading.temperatureCelsius { metrics[prefix + "temperature_celsius"] = celsius }
            if let bytes = reading.trainerMemoryBytes { metrics[prefix + "trainer_memory_usage_megabytes"] = Double(bytes) / 1e6 }
        }
        return metrics.mapValues { ($0 * 10).rounded() / 10 }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

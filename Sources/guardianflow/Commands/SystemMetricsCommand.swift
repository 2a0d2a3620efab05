#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import GuardianFlow
import MLflow

struct SystemMetricsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "system-metrics",
        abstract: "Show the system and GPU metrics that training logs, sampled here and now.",
        discussion: """
            The same sampler `train` runs every system_metrics_interval seconds: the machine's CPU and \
            memory, a process group's CPU and resident memory (--pid), and one GPU through NVML \
            (--device; the first GPU when NVML lists one). Handy on a new GPU machine to see what \
            the MLflow UI's System Metrics tab will show. CPU percentages need two readings, so the \
            first sample comes one interval after the start. With --json, each sample is one JSON \
            object on a line of its own (JSON Lines), printed as it is taken.

            Examples:
              guardianflow system-metrics --device 0
              guardianflow system-metrics --pid 4242 --interval 2 --count 5 --json
            """
    )
    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Seconds between samples.", valueName: "seconds")) var interval: Double = 1
    @Option(help: "How many samples to print.") var count = 1
    @Option(help: ArgumentHelp("Also measure this process's process group (a trainer and its workers).", valueName: "pid"))
    var pid: Int32?
    @Option(help: ArgumentHelp("The GPU to read: an index such as 0, cuda:0, or cpu for none.", valueName: "device"))
    var device: String?
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard interval >= 0.01, interval <= 3600 else { throw ValidationError("--interval must be seconds from 0.01 to 3600.") }
        guard count >= 1 else { throw ValidationError("--count must be 1 or more.") }
    }

    struct Sample: Encodable {
        var step: Int
        var timestamp: Int64
        var metrics: [String: Double]
    }

    func run() async throws {
        try await global.run { settings in
            let sampler = SystemSampler()
            if let pid {
                let group = getpgid(pid)
                guard group > 0 else { throw GuardianFlowError.invalidInput("--pid \(pid): no such process here.") }
                sampler.trainerGroup = group
            }
            try openGPU(sampler, settings: settings)
            _ = sampler.sample()
            for step in 0..<count {
                try await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
                let metrics = sampler.sample()
                if output.json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                    Console.out(String(decoding: try encoder.encode(Sample(step: step, timestamp: mlflowTimestamp(), metrics: metrics)), as: UTF8.self))
                } else {
                    if count > 1 { Console.out("step \(step)") }
                    for (key, value) in metrics.sorted(by: { $0.key < $1.key }) {
                        Console.out("  \(key.padding(toLength: 48, withPad: " ", startingAt: 0)) \(String(format: "%.1f", value))")
                    }
                }
            }
        }
    }

    /// Points the sampler at the GPU asked for, or the first one NVML lists; says on stderr when there is none.
    func openGPU(_ sampler: SystemSampler, settings: Settings) throws {
        if device?.lowercased() == "cpu" { return }
        let selection: GPUSelection
        if let device {
            guard let chosen = try GPUSelection.resolve(device: device, cudaVisibleDevices: ProcessInfo.processInfo.environment["CUDA_VISIBLE_DEVICES"]) else {
                throw GuardianFlowError.invalidInput("--device '\(device)' is not a GPU; use an index such as 0, cuda:0, or cpu.")
            }
            selection = chosen
        } else {
            selection = GPUSelection(label: 0, target: .index(0))
        }
        do {
            let nvml = try NVML.open(path: settings.nvmlLibrary)
            if device == nil, try nvml.deviceCount() == 0 {
                log.notice("NVML lists no GPU; showing CPU and memory only.")
                return
            }
            let gpu = try selection.open(in: nvml)
            sampler.setGPU(nvml: nvml, device: gpu, label: selection.label)
            log.notice("GPU \(selection.label): \(gpu.name) (\(gpu.uuid))")
        } catch {
            // Asked for a GPU explicitly: an error. Otherwise: say why there are no GPU figures.
            if device != nil { throw GuardianFlowError.unavailable("GPU metrics: \(error)") }
            log.warning("No GPU metrics: \(error)")
        }
    }
}

import Config
import Delivery
import Foundation
import Logging
import MLflow
import SystemMonitoring

/// A training's system metrics: the machine and the trainer's process group sampled into the
/// run's journal, and the GPUs the trainer reported it uses.
enum TrainingMonitor {
    /// Starts sampling; nil when system metrics are off (`system_metrics_interval` 0). A resumed
    /// run's samples continue after the steps it already has.
    static func start(
        settings: Settings, client: MLflowClient, runId: String, resuming: Bool, trainerGroup: Int32?, into runLogger: RunLogger
    ) async -> SystemMonitor? {
        guard let interval = settings.systemMetricsInterval else { return nil }
        var firstStep: Int64 = 0
        if resuming, let history = try? await client.metricHistory(runId: runId, key: "system/system_memory_usage_megabytes") {
            firstStep = (history.map(\.step).max() ?? -1) + 1
        }
        let monitor = SystemMonitor(interval: interval, firstStep: firstStep) { metrics in
            runLogger.log(metrics: metrics)
            return true
        }
        monitor.watch(trainerGroup: trainerGroup)
        monitor.start()
        return monitor
    }

    /// Points the monitor at the GPUs the trainer uses (one, or each of a multi-GPU training's);
    /// returns the `guardianflow.gpu_metrics` tag saying what is logged, or why nothing is.
    static func watchGPU(_ started: TrainerEvent.Started, monitor: SystemMonitor?, settings: Settings, logger: Logger) -> String {
        guard let monitor else { return "off: system metrics are turned off (system_metrics_interval 0)" }
        let selections: [GPUSelection]
        do {
            let visible = ProcessInfo.processInfo.environment["CUDA_VISIBLE_DEVICES"]
            selections = try started.gpus.compactMap {
                try GPUSelection.resolve(device: $0.device, uuid: $0.uuid, cudaVisibleDevices: visible)
            }
        } catch {
            logger.warning("GPU metrics are not logged: \(error).")
            return "unavailable: \(error)"
        }
        guard !selections.isEmpty else {
            var reason = "unavailable: the training runs on the CPU (device \(started.device))"
            if case .absent(let why) = NVMLAvailability.probe(path: settings.nvmlLibrary) { reason += "; NVML absent: \(why)" }
            return reason
        }
        do {
            let nvml = try NVML.open(path: settings.nvmlLibrary)
            let devices = try selections.map { (device: try $0.open(in: nvml), label: $0.label) }
            monitor.watch(gpus: nvml, devices: devices)
            let series = devices.map { "system/gpu_\($0.label)_*" }.joined(separator: ", ")
            let names = devices.map { "\($0.device.name) (\($0.device.uuid))" }.joined(separator: ", ")
            logger.debug("GPU metrics: \(names) as \(series).")
            return "logged as \(series): \(names)"
        } catch {
            logger.warning("GPU metrics are not logged: \(error).")
            return "unavailable: \(error)"
        }
    }
}

import Config
import Delivery
import Foundation
import Logging
import MLflow
import SystemMonitoring

/// A training's system metrics: the machine and the trainer's process group sampled into the
/// run's journal, and the GPU the trainer reported it uses.
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

    /// Points the monitor at the GPU the trainer uses; returns the `guardianflow.gpu_metrics` tag
    /// saying what is logged, or why nothing is.
    static func watchGPU(_ started: TrainerEvent.Started, monitor: SystemMonitor?, settings: Settings, logger: Logger) -> String {
        guard let monitor else { return "off: system metrics are turned off (system_metrics_interval 0)" }
        let selection: GPUSelection?
        do {
            selection = try GPUSelection.resolve(
                device: started.device, uuid: started.deviceUUID,
                cudaVisibleDevices: ProcessInfo.processInfo.environment["CUDA_VISIBLE_DEVICES"])
        } catch {
            logger.warning("GPU metrics are not logged: \(error).")
            return "unavailable: \(error)"
        }
        guard let selection else {
            var reason = "unavailable: the training runs on the CPU (device \(started.device))"
            if case .absent(let why) = NVMLAvailability.probe(path: settings.nvmlLibrary) { reason += "; NVML absent: \(why)" }
            return reason
        }
        do {
            let nvml = try NVML.open(path: settings.nvmlLibrary)
            let device = try selection.open(in: nvml)
            monitor.watch(gpu: nvml, device: device, label: selection.label)
            logger.debug("GPU metrics: \(device.name) (\(device.uuid)) as system/gpu_\(selection.label)_*.")
            return "logged as system/gpu_\(selection.label)_*: \(device.name) (\(device.uuid))"
        } catch {
            logger.warning("GPU metrics are not logged: \(error).")
            return "unavailable: \(error)"
        }
    }
}

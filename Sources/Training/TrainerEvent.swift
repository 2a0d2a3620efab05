import Foundation
import GuardianFlowCore

/// One line of the trainer bridge's event channel (python/guardianflow_trainer: one JSON object a line).
public enum TrainerEvent: Sendable, Equatable {
    /// The trainer exists: its save dir, versions, device and every effective argument.
    case started(Started)
    /// One epoch done (1-based, like results.csv), with ultralytics' metric names.
    case epoch(Epoch)
    /// Training ended; the best checkpoint was validated once more.
    case finished(Finished)
    /// Training failed; `kind` is oom, dataset, model, config or other.
    case error(kind: String, message: String, traceback: String)

    public struct Started: Sendable, Equatable {
        public var pid: Int
        public var saveDir: String
        public var ultralytics: String
        public var torch: String
        public var device: String
        public var epochs: Int
        public var startEpoch: Int
        public var resume: Bool
        /// Every effective ultralytics argument, as text.
        public var args: [String: String]
        /// The GPU's UUID as torch reports it (`GPU-…`), when training on a CUDA device.
        public var deviceUUID: String?
        /// Every GPU a multi-GPU (DDP) training uses (`device` is then `cuda:0,1`); empty otherwise.
        public var devices: [GPU]

        /// One GPU as torch names it (`cuda:1`) and its UUID.
        public struct GPU: Sendable, Equatable {
            public var device: String
            public var uuid: String?

            public init(device: String, uuid: String?) {
                self.device = device
                self.uuid = uuid
            }
        }

        /// The GPUs to meter: `devices`, else the one `device` names (which may be the CPU).
        public var gpus: [GPU] { devices.isEmpty ? [GPU(device: device, uuid: deviceUUID)] : devices }

        public init(
            pid: Int, saveDir: String, ultralytics: String, torch: String, device: String, epochs: Int, startEpoch: Int,
            resume: Bool, args: [String: String], deviceUUID: String? = nil, devices: [GPU] = []
        ) {
            self.deviceUUID = deviceUUID
            self.devices = devices
            self.pid = pid
            self.saveDir = saveDir
            self.ultralytics = ultralytics
            self.torch = torch
            self.device = device
            self.epochs = epochs
            self.startEpoch = startEpoch
            self.resume = resume
            self.args = args
        }
    }

    public struct Epoch: Sendable, Equatable {
        public var epoch: Int
        public var epochs: Int
        public var time: Double
        /// ultralytics names (`metrics/mAP50-95(B)`, `train/box_loss`); nil for NaN.
        public var metrics: [String: Double]
        public var learningRates: [String: Double]

        public init(epoch: Int, epochs: Int, time: Double, metrics: [String: Double], learningRates: [String: Double]) {
            self.epoch = epoch
            self.epochs = epochs
            self.time = time
            self.metrics = metrics
            self.learningRates = learningRates
        }
    }

    public struct Finished: Sendable, Equatable {
        public var saveDir: String
        public var best: String?
        public var last: String?
        public var epochsCompleted: Int
        public var bestMetrics: [String: Double]
        public var speedMs: [String: Double]
        public var resultsCSV: String?
        public var argsYAML: String?

        public init(
            saveDir: String, best: String?, last: String?, epochsCompleted: Int, bestMetrics: [String: Double],
            speedMs: [String: Double], resultsCSV: String?, argsYAML: String?
        ) {
            self.saveDir = saveDir
            self.best = best
            self.last = last
            self.epochsCompleted = epochsCompleted
            self.bestMetrics = bestMetrics
            self.speedMs = speedMs
            self.resultsCSV = resultsCSV
            self.argsYAML = argsYAML
        }
    }

    /// Parses one line; nil for a line that is not a known event.
    public static func parse(_ line: String) -> TrainerEvent? {
        guard let data = line.data(using: .utf8), let wire = try? JSONDecoder().decode(Wire.self, from: data) else {
            return nil
        }
        switch wire.event {
        case "started":
            return .started(
                Started(
                    pid: wire.pid ?? 0, saveDir: wire.save_dir ?? "", ultralytics: wire.ultralytics ?? "",
                    torch: wire.torch ?? "", device: wire.device ?? "", epochs: wire.epochs ?? 0,
                    startEpoch: max(1, wire.start_epoch ?? 1), resume: wire.resume ?? false,
                    args: (wire.args ?? [:]).mapValues(\.text), deviceUUID: wire.device_uuid,
                    devices: (wire.devices ?? []).compactMap { gpu in gpu.device.map { Started.GPU(device: $0, uuid: gpu.uuid) } }))
        case "epoch":
            return .epoch(
                Epoch(
                    epoch: wire.epoch ?? 0, epochs: wire.epochs ?? 0, time: wire.time ?? 0,
                    metrics: (wire.metrics ?? [:]).compactMapValues { $0 }, learningRates: (wire.lr ?? [:]).compactMapValues { $0 }))
        case "finished":
            return .finished(
                Finished(
                    saveDir: wire.save_dir ?? "", best: wire.best, last: wire.last, epochsCompleted: wire.epochs_completed ?? 0,
                    bestMetrics: (wire.best_metrics ?? [:]).compactMapValues { $0 },
                    speedMs: (wire.speed_ms ?? [:]).compactMapValues { $0 }, resultsCSV: wire.results_csv,
                    argsYAML: wire.args_yaml))
        case "error":
            return .error(kind: wire.kind ?? "other", message: wire.message ?? "", traceback: wire.traceback ?? "")
        default:
            return nil
        }
    }

    /// The bridge's JSON, field names as on the wire.
    struct WireGPU: Decodable {
        var device: String?
        var uuid: String?
    }

    struct Wire: Decodable {
        var event: String
        var pid: Int?
        var save_dir: String?
        var ultralytics: String?
        var torch: String?
        var device: String?
        var device_uuid: String?
        var devices: [WireGPU]?
        var epochs: Int?
        var start_epoch: Int?
        var resume: Bool?
        var args: [String: ParamValue]?
        var epoch: Int?
        var time: Double?
        var metrics: [String: Double?]?
        var lr: [String: Double?]?
        var best: String?
        var last: String?
        var epochs_completed: Int?
        var best_metrics: [String: Double?]?
        var speed_ms: [String: Double?]?
        var results_csv: String?
        var args_yaml: String?
        var kind: String?
        var message: String?
        var traceback: String?
    }
}

import Foundation

/// Which GPU a training uses, as NVML knows it. Only that GPU is reported (MLflow's own
/// monitor reports every GPU of the host).
///
/// The trainer names its device as torch does (`cuda:0`, the ordinal among the GPUs that
/// `CUDA_VISIBLE_DEVICES` leaves visible); the trainer bridge also reports the GPU's UUID, which
/// NVML finds directly. Without the UUID the ordinal goes through `CUDA_VISIBLE_DEVICES` (indices or
/// `GPU-…` UUIDs) to NVML's index.
public struct GPUSelection: Sendable, Equatable {
    /// How the metrics name it: `system/gpu_<label>_…`, torch's ordinal.
    public var label: Int
    public var target: Target

    public enum Target: Sendable, Equatable {
        case index(Int)
        case uuid(String)
    }

    public init(label: Int, target: Target) {
        self.label = label
        self.target = target
    }

    /// The GPU for a torch device string, or nil when the training runs on the CPU.
    ///
    /// - Throws: a message when `CUDA_VISIBLE_DEVICES` does not name the ordinal.
    public static func resolve(device: String, uuid: String? = nil, cudaVisibleDevices: String?) throws -> GPUSelection? {
        let lower = device.lowercased().trimmingCharacters(in: .whitespaces)
        let ordinal: Int
        if lower == "cuda" {
            ordinal = 0
        } else if lower.hasPrefix("cuda:"), let n = Int(lower.dropFirst(5)) {
            ordinal = n
        } else if let n = Int(lower) {
            ordinal = n
        } else {
            return nil  // cpu, mps
        }
        if let uuid, !uuid.isEmpty {
            return GPUSelection(label: ordinal, target: .uuid(uuid.hasPrefix("GPU-") || uuid.hasPrefix("MIG-") ? uuid : "GPU-\(uuid)"))
        }
        guard let visible = cudaVisibleDevices?.trimmingCharacters(in: .whitespaces) else {
            return GPUSelection(label: ordinal, target: .index(ordinal))
        }
        let entries = visible.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard ordinal < entries.count else {
            throw GPUSelectionError(
                "the trainer uses cuda:\(ordinal), but CUDA_VISIBLE_DEVICES='\(visible)' lists \(entries.count) GPU(s)")
        }
        let entry = entries[ordinal]
        if let index = Int(entry) { return GPUSelection(label: ordinal, target: .index(index)) }
        return GPUSelection(label: ordinal, target: .uuid(entry))
    }

    /// The device in NVML.
    public func open(in nvml: NVML) throws(NVMLError) -> NVML.Device {
        switch target {
        case .index(let index): try nvml.device(index: index)
        case .uuid(let uuid): try nvml.device(uuid: uuid)
        }
    }
}

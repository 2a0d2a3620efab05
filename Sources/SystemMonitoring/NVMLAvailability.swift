#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Whether NVIDIA's management library can be loaded here (opened with dlopen at run time,
/// so guardianflow runs on machines without a GPU).
public enum NVMLAvailability: Sendable, Equatable {
    case available(path: String, devices: [String])
    case absent(reason: String)

    /// The library's soname.
    public static let libraryName = "libnvidia-ml.so.1"

    /// Opens and initialises NVML, counts the GPUs, and closes it again.
    public static func probe(path: String = libraryName) -> NVMLAvailability {
        do {
            let nvml = try NVML.open(path: path)
            let count = try nvml.deviceCount()
            let names = (0..<count).compactMap { try? nvml.device(index: $0).name }
            return .available(path: path, devices: names)
        } catch {
            switch error {
            case .libraryMissing(_, let reason): return .absent(reason: reason)
            default: return .absent(reason: error.description)
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Whether NVIDIA's management library can be loaded here (opened with dlopen at run time,
/// so guardianflow runs on machines without a GPU).
public enum NVMLAvailability: Sendable, Equatable {
    case available(path: String)
    case absent(reason: String)

    /// The library's soname.
    public static let libraryName = "libnvidia-ml.so.1"

    /// Tries to open the library (and closes it again).
    public static func probe(path: String = libraryName) -> NVMLAvailability {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "cannot be opened"
            return .absent(reason: reason)
        }
        dlclose(handle)
        return .available(path: path)
    }
}

/// Why NVML could not be used; the text says what it means for the user.
public enum NVMLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No driver library here (a machine without an NVIDIA GPU, or a container without the driver mounted).
    case libraryMissing(path: String, reason: String)
    /// The library lacks a function guardianflow needs: a driver older than NVML 11.
    case symbolMissing(String, path: String)
    /// An NVML call failed with its return code and NVML's own message.
    case call(String, code: Int32, message: String)

    public var description: String {
        switch self {
        case .libraryMissing(let path, let reason):
            "NVML (\(path)) cannot be loaded: \(reason). No NVIDIA driver here; on a GPU machine install it "
                + "(or mount it into the container), or set GUARDIANFLOW_NVML_LIBRARY to libnvidia-ml.so.1's path."
        case .symbolMissing(let symbol, let path):
            "\(path) has no \(symbol); the NVIDIA driver is too old for guardianflow's GPU metrics (update the driver)."
        case .call(let function, let code, let message):
            "\(function) failed: \(message) (NVML code \(code))."
        }
    }
}

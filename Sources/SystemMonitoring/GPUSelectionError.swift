import Foundation

/// A device that cannot be mapped to NVML.
public struct GPUSelectionError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

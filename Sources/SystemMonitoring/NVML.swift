#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// NVIDIA's management library, opened with dlopen at run time: no link-time dependency, so
/// guardianflow runs (and says why there are no GPU metrics) on machines without a GPU.
///
/// ```swift
/// let nvml = try NVML.open()                       // libnvidia-ml.so.1
/// let gpu = try nvml.device(index: 0)
/// let reading = nvml.read(gpu, trainerPids: [1234]) // memory, utilization, power, temperature
/// ```
///
/// Struct layouts follow `nvml.h`: `nvmlMemory_t` is three `unsigned long long` (total, free,
/// used), `nvmlUtilization_t` two `unsigned int` (gpu, memory), `nvmlProcessInfo_t` (v2/v3) an
/// `unsigned int` pid, an `unsigned long long` of used memory and two `unsigned int`s: 24 bytes.
public final class NVML: @unchecked Sendable {
    /// The driver's soname.
    public static let defaultLibrary = "libnvidia-ml.so.1"

    /// A GPU as NVML names it.
    public struct Device: @unchecked Sendable {
        let handle: OpaquePointer
        public let index: Int?
        public let name: String
        public let uuid: String
    }

    /// One look at a GPU; nil where the GPU does not support the query.
    public struct Reading: Sendable, Equatable {
        public var memoryUsedBytes: UInt64
        public var memoryTotalBytes: UInt64
        public var utilizationPercent: Double?
        public var powerWatts: Double?
        public var powerLimitWatts: Double?
        public var temperatureCelsius: Double?
        /// GPU memory of the processes asked about; nil when NVML does not list processes
        /// (or lists none of them, as inside a container whose pids it cannot see).
        public var trainerMemoryBytes: UInt64?
    }

    typealias VoidCall = @convention(c) () -> Int32
    typealias CountCall = @convention(c) (UnsafeMutablePointer<UInt32>) -> Int32
    typealias HandleByIndexCall = @convention(c) (UInt32, UnsafeMutablePointer<OpaquePointer?>) -> Int32
    typealias HandleByUUIDCall = @convention(c) (UnsafePointer<CChar>, UnsafeMutablePointer<OpaquePointer?>) -> Int32
    typealias StringCall = @convention(c) (OpaquePointer, UnsafeMutablePointer<CChar>, UInt32) -> Int32
    typealias StructCall = @convention(c) (OpaquePointer, UnsafeMutableRawPointer) -> Int32
    typealias UIntCall = @convention(c) (OpaquePointer, UnsafeMutablePointer<UInt32>) -> Int32
    typealias TemperatureCall = @convention(c) (OpaquePointer, Int32, UnsafeMutablePointer<UInt32>) -> Int32
    typealias ProcessesCall = @convention(c) (OpaquePointer, UnsafeMutablePointer<UInt32>, UnsafeMutableRawPointer?) -> Int32
    typealias ErrorStringCall = @convention(c) (Int32) -> UnsafePointer<CChar>?

    /// NVML's return codes that guardianflow treats specially.
    enum Code {
        static let success: Int32 = 0
        static let notSupported: Int32 = 3
        static let insufficientSize: Int32 = 7
    }
    static let processInfoSize = 24
    static let notAvailable = UInt64.max

    public let path: String
    let library: UnsafeMutableRawPointer
    let shutdownCall: VoidCall
    let errorStringCall: ErrorStringCall?
    let countCall: CountCall
    let handleByIndexCall: HandleByIndexCall
    let handleByUUIDCall: HandleByUUIDCall?
    let nameCall: StringCall
    let uuidCall: StringCall
    let memoryCall: StructCall
    let utilizationCall: StructCall?
    let powerCall: UIntCall?
    let powerLimitCall: UIntCall?
    let temperatureCall: TemperatureCall?
    let processesCall: ProcessesCall?

    /// Opens the library and initialises NVML.
    ///
    /// - Throws: ``NVMLError/libraryMissing(path:reason:)`` without a driver,
    ///   ``NVMLError/symbolMissing(_:path:)`` for a driver too old, ``NVMLError/call(_:code:message:)``
    ///   when `nvmlInit_v2` fails (driver/library mismatch, no permission).
    public static func open(path: String = defaultLibrary) throws(NVMLError) -> NVML {
        guard let library = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "cannot be opened"
            throw .libraryMissing(path: path, reason: reason)
        }
        do {
            return try NVML(path: path, library: library)
        } catch {
            dlclose(library)
            throw error
        }
    }

    private init(path: String, library: UnsafeMutableRawPointer) throws(NVMLError) {
        func required<T>(_ name: String, _ type: T.Type) throws(NVMLError) -> T {
            guard let symbol = dlsym(library, name) else { throw .symbolMissing(name, path: path) }
            return unsafeBitCast(symbol, to: type)
        }
        func optional<T>(_ names: [String], _ type: T.Type) -> T? {
            for name in names { if let symbol = dlsym(library, name) { return unsafeBitCast(symbol, to: type) } }
            return nil
        }
        self.path = path
        self.library = library
        let initCall = try required("nvmlInit_v2", VoidCall.self)
        shutdownCall = try required("nvmlShutdown", VoidCall.self)
        errorStringCall = optional(["nvmlErrorString"], ErrorStringCall.self)
        countCall = try required("nvmlDeviceGetCount_v2", CountCall.self)
        handleByIndexCall = try required("nvmlDeviceGetHandleByIndex_v2", HandleByIndexCall.self)
        handleByUUIDCall = optional(["nvmlDeviceGetHandleByUUID"], HandleByUUIDCall.self)
        nameCall = try required("nvmlDeviceGetName", StringCall.self)
        uuidCall = try required("nvmlDeviceGetUUID", StringCall.self)
        memoryCall = try required("nvmlDeviceGetMemoryInfo", StructCall.self)
        utilizationCall = optional(["nvmlDeviceGetUtilizationRates"], StructCall.self)
        powerCall = optional(["nvmlDeviceGetPowerUsage"], UIntCall.self)
        powerLimitCall = optional(["nvmlDeviceGetEnforcedPowerLimit"], UIntCall.self)
        temperatureCall = optional(["nvmlDeviceGetTemperature"], TemperatureCall.self)
        // v3 and v2 share the 24-byte nvmlProcessInfo_t; v1's is shorter and not used.
        processesCall = optional(["nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2"], ProcessesCall.self)
        let code = initCall()
        guard code == Code.success else {
            throw .call("nvmlInit_v2", code: code, message: Self.describe(code, errorStringCall))
        }
    }

    deinit {
        _ = shutdownCall()
        dlclose(library)
    }

    static func describe(_ code: Int32, _ call: ErrorStringCall?) -> String {
        call?(code).map { String(cString: $0) } ?? "NVML error \(code)"
    }

    func check(_ function: String, _ code: Int32) throws(NVMLError) {
        guard code == Code.success else { throw .call(function, code: code, message: Self.describe(code, errorStringCall)) }
    }

    /// How many GPUs the driver sees.
    public func deviceCount() throws(NVMLError) -> Int {
        var count: UInt32 = 0
        try check("nvmlDeviceGetCount_v2", countCall(&count))
        return Int(count)
    }

    /// The GPU at NVML's index (PCI bus order).
    public func device(index: Int) throws(NVMLError) -> Device {
        var handle: OpaquePointer?
        try check("nvmlDeviceGetHandleByIndex_v2", handleByIndexCall(UInt32(index), &handle))
        guard let handle else { throw .call("nvmlDeviceGetHandleByIndex_v2", code: -1, message: "no handle returned") }
        return try describeDevice(handle, index: index)
    }

    /// The GPU with this UUID (`GPU-…`, as `nvidia-smi -L` and CUDA_VISIBLE_DEVICES write it).
    public func device(uuid: String) throws(NVMLError) -> Device {
        guard let handleByUUIDCall else { throw .symbolMissing("nvmlDeviceGetHandleByUUID", path: path) }
        var handle: OpaquePointer?
        try check("nvmlDeviceGetHandleByUUID", uuid.withCString { handleByUUIDCall($0, &handle) })
        guard let handle else { throw .call("nvmlDeviceGetHandleByUUID", code: -1, message: "no handle returned") }
        return try describeDevice(handle, index: nil)
    }

    func describeDevice(_ handle: OpaquePointer, index: Int?) throws(NVMLError) -> Device {
        Device(
            handle: handle, index: index, name: try string("nvmlDeviceGetName", nameCall, handle),
            uuid: try string("nvmlDeviceGetUUID", uuidCall, handle))
    }

    func string(_ function: String, _ call: StringCall, _ handle: OpaquePointer) throws(NVMLError) -> String {
        var buffer = [CChar](repeating: 0, count: 96)
        let code = buffer.withUnsafeMutableBufferPointer { call(handle, $0.baseAddress!, UInt32($0.count)) }
        try check(function, code)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Reads a GPU. Memory must answer; the rest is nil where unsupported.
    ///
    /// - Parameter trainerPids: the processes whose GPU memory is summed into `trainerMemoryBytes`.
    public func read(_ device: Device, trainerPids: Set<Int32> = []) throws(NVMLError) -> Reading {
        var memory = [UInt64](repeating: 0, count: 3)  // total, free, used
        try check("nvmlDeviceGetMemoryInfo", memory.withUnsafeMutableBytes { memoryCall(device.handle, $0.baseAddress!) })
        var reading = Reading(memoryUsedBytes: memory[2], memoryTotalBytes: memory[0])
        if let utilizationCall {
            var rates = [UInt32](repeating: 0, count: 2)  // gpu, memory
            if rates.withUnsafeMutableBytes({ utilizationCall(device.handle, $0.baseAddress!) }) == Code.success {
                reading.utilizationPercent = Double(rates[0])
            }
        }
        var value: UInt32 = 0
        if let powerCall, powerCall(device.handle, &value) == Code.success { reading.powerWatts = Double(value) / 1000 }
        if let powerLimitCall, powerLimitCall(device.handle, &value) == Code.success, value > 0 {
            reading.powerLimitWatts = Double(value) / 1000
        }
        if let temperatureCall, temperatureCall(device.handle, 0 /* NVML_TEMPERATURE_GPU */, &value) == Code.success {
            reading.temperatureCelsius = Double(value)
        }
        if !trainerPids.isEmpty, let processes = processes(device) {
            let mine = processes.filter { trainerPids.contains($0.pid) && $0.usedBytes != Self.notAvailable }
            if !mine.isEmpty { reading.trainerMemoryBytes = mine.reduce(0) { $0 + $1.usedBytes } }
        }
        return reading
    }

    /// The compute processes on a GPU with their memory; nil when NVML cannot list them.
    public func processes(_ device: Device) -> [(pid: Int32, usedBytes: UInt64)]? {
        guard let processesCall else { return nil }
        var capacity: UInt32 = 16
        for _ in 0..<4 {
            var count = capacity
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: Int(capacity) * Self.processInfoSize, alignment: 8)
            defer { buffer.deallocate() }
            let code = processesCall(device.handle, &count, buffer)
            if code == Code.insufficientSize {
                capacity = max(count, capacity) * 2
                continue
            }
            guard code == Code.success else { return nil }
            return (0..<Int(min(count, capacity))).map { i in
                let base = buffer + i * Self.processInfoSize
                return (Int32(bitPattern: base.loadUnaligned(as: UInt32.self)), base.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            }
        }
        return nil
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow

/// The NVML stand-in (Tests/Fixtures/fake_nvml.c), compiled by the test that needs it into a
/// library of its own, so parallel tests never share its state.
public struct FakeNVML {
    public let path: String

    /// Compiles the stand-in with `-D` switches (`FAKE_DEVICES=1`, `FAKE_NO_POWER`, …).
    public static func build(_ defines: [String] = []) async throws -> FakeNVML {
        let directory = TestEnvironment.temporaryDirectory("fake-nvml")
        let path = "\(directory)/libnvidia-ml-fake.so"
        let result = try await ChildProcess.run(
            "/usr/bin/cc", ["-shared", "-fPIC", "-O1", "-o", path, TestEnvironment.repoRoot + "/Tests/Fixtures/fake_nvml.c"] + defines.map { "-D" + $0 })
        guard result.exit == .exited(0) else {
            throw Python.Failure(description: "cc could not build the NVML stand-in:\n\(result.stderr)")
        }
        return FakeNVML(path: path)
    }

    /// Calls the stand-in's `fake_nvml_set_process` in the copy NVML opened (same path, same handle).
    public func addProcess(pid: Int32, bytes: UInt64) {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD), let symbol = dlsym(handle, "fake_nvml_set_process") else { return }
        defer { dlclose(handle) }
        typealias SetProcess = @convention(c) (UInt32, UInt64) -> Void
        unsafeBitCast(symbol, to: SetProcess.self)(UInt32(bitPattern: pid), bytes)
    }
}

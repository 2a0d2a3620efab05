#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow
import PathSupport
import Testing

@Suite("Child processes")
struct ChildProcessTests {
    @Test("output is captured and the exit code reported")
    func run() async throws {
        let result = try await ChildProcess.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"])
        #expect(result.exit == .exited(3))
        #expect(result.stdout == "out\n")
        #expect(result.stderr == "err\n")
    }

    @Test("terminate stops the whole process group, grandchildren included")
    func terminateGroup() async throws {
        let child = try ChildProcess.spawn(
            ProcessSpec(executable: "/bin/sh", arguments: ["-c", "sleep 300 & echo $!; wait"], stdout: .pipe, stderr: .null))
        var lines = ChildProcess.lines(of: child.stdout!).makeAsyncIterator()
        let line = await lines.next() ?? ""
        let grandchild = try #require(Int32(line))
        #expect(processIsAlive(grandchild))
        let exit = await child.terminate(grace: .seconds(2))
        #expect(exit == .signaled(15))
        try await Task.sleep(for: .milliseconds(200))
        #expect(!processIsAlive(grandchild) || isZombie(grandchild))
    }

    @Test("a missing executable is a clear error")
    func missing() {
        #expect(throws: GuardianFlowError.self) {
            try ChildProcess.spawn(ProcessSpec(executable: "/nonexistent/python"))
        }
    }

    @Test("a failed spawn closes each of its pipe ends once: none opened meanwhile by another thread under a reused number is closed")
    func failedSpawnDescriptors() async throws {
        // Another thread keeps opening /dev/null and checks each descriptor is still its own after
        // the failed spawns around it; a second close of a reused number would show as EBADF.
        let stop = ManagedFlag()
        let watcher = Task.detached { () -> Int in
            var stolen = 0
            while !stop.isSet {
                let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { continue }
                for _ in 0..<50 where fcntl(fd, F_GETFD) == -1 { stolen += 1 }
                if fcntl(fd, F_GETFD) != -1 { close(fd) }
            }
            return stolen
        }
        for _ in 0..<300 {
            #expect(throws: GuardianFlowError.self) {
                try ChildProcess.spawn(ProcessSpec(executable: "/nonexistent/trainer", stdout: .pipe, stderr: .pipe))
            }
        }
        stop.set()
        #expect(await watcher.value == 0, "a descriptor the watcher held was closed by a failed spawn")
    }

    @Test("waitForExit(timeout:) tells a child that died from one that runs, without anyone else waiting")
    func waitWithTimeout() async throws {
        let quick = try ChildProcess.spawn(ProcessSpec(executable: "/bin/sh", arguments: ["-c", "exit 7"]))
        #expect(await quick.waitForExit(timeout: .seconds(10)) == .exited(7))
        #expect(quick.reapedExit == .exited(7))
        let slow = try ChildProcess.spawn(ProcessSpec(executable: "/bin/sleep", arguments: ["30"]))
        #expect(await slow.waitForExit(timeout: .milliseconds(200)) == nil)
        #expect(slow.reapedExit == nil)
        #expect(await slow.terminate(grace: .seconds(2)) == .signaled(15))
    }

    func isZombie(_ pid: Int32) -> Bool {
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        return stat.isEmpty || stat.contains(") Z ")
    }
}

@Suite("File paths")
struct FilePathsTests {
    @Test("parent folders, bare names included", arguments: [
        ("a/b/c", "a/b"), ("/a", "/"), ("/", "/"), ("g", ""), ("name.pt", ""), ("a//b", "a"), ("dir/", ""), ("/x/y/", "/x"),
    ])
    func parent(path: String, expected: String) {
        #expect(FilePaths.parent(path) == expected)
    }
}

/// A flag one task sets and another polls.
final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

import Foundation
import GuardianFlow
import HTTPSupport
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

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CSupport
import Foundation

/// A child process started with posix_spawn, optionally in its own process group or session.
///
/// Signals, stdin and the working directory are set up so the child starts clean: default signal
/// handlers (even when the parent ignores SIGINT), stdin from /dev/null.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    /// The read end of the child's stdout, when it was `.pipe`.
    public let stdout: FileHandle?
    /// The read end of the child's stderr, when it was `.pipe`.
    public let stderr: FileHandle?
    public let spec: ProcessSpec

    private let lock = NSLock()
    private var reaping = false
    private let exited = Latch<ProcessExit>()

    private init(pid: pid_t, stdout: FileHandle?, stderr: FileHandle?, spec: ProcessSpec) {
        self.pid = pid
        self.stdout = stdout
        self.stderr = stderr
        self.spec = spec
    }

    /// Starts a child.
    ///
    /// - Throws: ``GuardianFlowError/invalidInput(_:)`` when the executable cannot be started,
    ///   naming it.
    public static func spawn(_ spec: ProcessSpec) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // Every pipe end is a bare descriptor owned here until the spawn succeeded: the child's
        // ends are closed once, whatever happens; the parent's are closed once on failure, or
        // handed to FileHandles (which close them) on success. Nothing is closed twice, so no
        // descriptor that another thread opened meanwhile under a reused number is touched.
        var parentEnds: [Int32] = []
        var childEnds: [Int32] = []
        var handedOver = false
        defer {
            for fd in childEnds { close(fd) }
            if !handedOver { for fd in parentEnds { close(fd) } }
        }
        func setUp(_ output: ProcessSpec.Output, fd: Int32) throws -> Int32? {
            switch output {
            case .inherit:
                return nil
            case .null:
                posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0)
                return nil
            case .file(let path, let append):
                let flags = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC)
                posix_spawn_file_actions_addopen(&actions, fd, path, flags, 0o644)
                return nil
            case .pipe:
                var fds: [Int32] = [0, 0]
                guard gf_pipe_cloexec(&fds) == 0 else {
                    throw GuardianFlowError.io("Cannot create a pipe to \(spec.executable): \(String(cString: strerror(errno))).")
                }
                parentEnds.append(fds[0])
                childEnds.append(fds[1])
                posix_spawn_file_actions_adddup2(&actions, fds[1], fd)
                return fds[0]
            }
        }
        let out = try setUp(spec.stdout, fd: 1)
        let err = try setUp(spec.stderr, fd: 2)
        if let directory = spec.workingDirectory {
            gf_spawn_file_actions_addchdir(&actions, directory)
        }

        var flags = Int32(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
        switch spec.grouping {
        case .inherit: break
        case .newGroup:
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        case .newSession:
            flags |= 0x80  // POSIX_SPAWN_SETSID (glibc ≥ 2.26)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)

        let argv = [spec.executable] + spec.arguments
        let envp = spec.environment.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        var result: Int32 = 0
        // ETXTBSY: the executable was just written, and a child another thread forked meanwhile
        // still holds the writing descriptor; it closes as that child execs. Try again briefly.
        for attempt in 0..<20 {
            // Spawned from one thread that lives as long as the process: a child that asks to die
            // with its parent (PR_SET_PDEATHSIG) is tied to the spawning thread, not the process.
            result = SpawnerThread.shared.perform {
                withCStrings(argv) { cArgv in
                    withCStrings(envp) { cEnvp in
                        spec.executable.contains("/")
                            ? posix_spawn(&pid, spec.executable, &actions, &attributes, cArgv, cEnvp)
                            : posix_spawnp(&pid, spec.executable, &actions, &attributes, cArgv, cEnvp)
                    }
                }
            }
            guard result == ETXTBSY, attempt < 19 else { break }
            usleep(50_000)
        }
        guard result == 0 else {
            throw GuardianFlowError.invalidInput(
                "Cannot start \(spec.executable): \(String(cString: strerror(result))). Check that it is installed (scripts/setup).")
        }
        handedOver = true
        return ChildProcess(
            pid: pid, stdout: out.map { FileHandle(fileDescriptor: $0, closeOnDealloc: true) },
            stderr: err.map { FileHandle(fileDescriptor: $0, closeOnDealloc: true) }, spec: spec)
    }

    /// Waits for the child to end (reaping it exactly once, whoever asks).
    public func waitForExit() async -> ProcessExit {
        if let exit = exited.current { return exit }
        let start: Bool = lock.withLock {
            defer { reaping = true }
            return !reaping
        }
        if start {
            let pid = self.pid
            Thread.detachNewThread { [exited] in
                var status: Int32 = 0
                var outcome: ProcessExit = .exited(-1)
                while true {
                    let r = waitpid(pid, &status, 0)
                    if r == -1 && errno == EINTR { continue }
                    if r == pid {
                        // WIFEXITED / WEXITSTATUS / WTERMSIG, spelt out (they are macros in C).
                        let signal = status & 0x7f
                        outcome = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
                    }
                    break
                }
                exited.resolve(outcome)
            }
        }
        return await exited.wait()
    }

    /// How the child ended, once someone reaped it (``waitForExit()``); nil before. A child that
    /// died but that nobody waits for yet is a zombie, not reaped: to learn whether it ended,
    /// use ``waitForExit(timeout:)``.
    public var reapedExit: ProcessExit? {
        exited.current
    }

    /// Waits for the child to end, at most `timeout`.
    ///
    /// - Returns: how it ended, or nil when it still runs after `timeout`.
    public func waitForExit(timeout: Duration) async -> ProcessExit? {
        if let exit = reapedExit { return exit }
        // Not a task group: it would wait for the waiter, which only ends when the child does.
        let first = Latch<ProcessExit?>()
        let timer = Task {
            try? await Task.sleep(for: timeout)
            first.resolve(nil)
        }
        Task {
            first.resolve(await self.waitForExit())
            timer.cancel()
        }
        return await first.wait()
    }

    /// Sends a signal to the child, or to its whole process group.
    public func signal(_ signal: Int32, group: Bool = true) {
        if group && spec.grouping != .inherit {
            kill(-pid, signal)
        } else {
            kill(pid, signal)
        }
    }

    /// Stops the child and everything in its group: SIGTERM, then SIGKILL after `grace`.
    @discardableResult
    public func terminate(grace: Duration = .seconds(5)) async -> ProcessExit {
        signal(SIGTERM)
        let exited = await waitForExit(timeout: grace)
        // Children of the child may still be alive even when it exited: kill the group either way.
        signal(SIGKILL)
        let exit: ProcessExit
        if let exited { exit = exited } else { exit = await waitForExit() }
        // SIGKILL lands asynchronously: return once no member of the group still runs (a server's
        // worker must not answer one more request after this returns).
        if spec.grouping != .inherit {
            await ProcFS().waitUntilGroupEnds(pid, timeout: .seconds(10), interval: .milliseconds(20))
        }
        return exit
    }

    /// Runs a command to completion and captures its output.
    ///
    /// - Parameter timeout: the child's group is killed when it runs longer.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
        workingDirectory: String? = nil, timeout: Duration = .seconds(60)
    ) async throws -> (exit: ProcessExit, stdout: String, stderr: String) {
        let child = try spawn(
            ProcessSpec(
                executable: executable, arguments: arguments, environment: environment, workingDirectory: workingDirectory,
                stdout: .pipe, stderr: .pipe, grouping: .newGroup))
        async let out = readAll(child.stdout)
        async let err = readAll(child.stderr)
        let finalExit: ProcessExit
        if let exit = await child.waitForExit(timeout: timeout) {
            finalExit = exit
        } else {
            finalExit = await child.terminate(grace: .seconds(1))
        }
        return (finalExit, await out, await err)
    }

    /// Reads a pipe to its end on a thread of its own.
    static func readAll(_ handle: FileHandle?) async -> String {
        guard let handle else { return "" }
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let data = (try? handle.readToEnd()) ?? Data()
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
    }

    /// The lines a pipe delivers, as they arrive.
    public static func lines(of handle: FileHandle) -> AsyncStream<String> {
        AsyncStream { continuation in
            Thread.detachNewThread {
                var buffer = Data()
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    buffer.append(chunk)
                    while let newline = buffer.firstIndex(of: 0x0A) {
                        let line = buffer[buffer.startIndex..<newline]
                        continuation.yield(String(decoding: line, as: UTF8.self))
                        buffer.removeSubrange(buffer.startIndex...newline)
                    }
                }
                if !buffer.isEmpty { continuation.yield(String(decoding: buffer, as: UTF8.self)) }
                continuation.finish()
            }
        }
    }
}

/// Whether a process with this pid exists.
public func processIsAlive(_ pid: pid_t) -> Bool {
    pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)
}

private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

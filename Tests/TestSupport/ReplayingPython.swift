#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A stand-in for the project venv's Python that makes the real guardianflow CLI replay a
/// recorded training instead of training: the test-only seam of the load test. Point the CLI at
/// it with the `python` setting (`GUARDIANFLOW_PYTHON`).
///
/// The shipped trainer never replays: `python -m guardianflow_trainer` always trains, and the
/// launcher passes no guardianflow variable to it. This is a shell script at `<dir>/bin/python`
/// that turns the launcher's one training call, `-m guardianflow_trainer --job FILE`, into
/// `-m guardianflow_trainer.replay --recording DIR --delay S --job FILE` and hands every other
/// call (the package version probe, `-c` snippets) to the real interpreter unchanged. Any other
/// `-m guardianflow_trainer` call fails (exit 97) rather than train for real unnoticed.
///
/// Beside it, laid out as a venv: `lib` links to the real venv's (guardianflow looks up
/// ultralytics' model configs there without starting Python) and `bin/mlflow` to its `mlflow`
/// (the local tracking server).
public enum ReplayingPython {
    /// The exit status of a `-m guardianflow_trainer` call the script does not recognise.
    public static let unrecognisedCall: Int32 = 97

    /// Writes the script and returns its path (`<directory>/bin/python`).
    public static func make(
        recording: String, delay: Double, python: String = TestEnvironment.python,
        in directory: String = TestEnvironment.temporaryDirectory("replaying-python")
    ) throws -> String {
        let manager = FileManager.default
        let bin = directory + "/bin"
        try manager.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let realBin = (python as NSString).deletingLastPathComponent
        let realLib = (realBin as NSString).deletingLastPathComponent + "/lib"
        if manager.fileExists(atPath: realLib) {
            try manager.createSymbolicLink(atPath: directory + "/lib", withDestinationPath: realLib)
        }
        if manager.isExecutableFile(atPath: realBin + "/mlflow") {
            try manager.createSymbolicLink(atPath: bin + "/mlflow", withDestinationPath: realBin + "/mlflow")
        }
        let real = quoted(python)
        let script = """
            #!/bin/sh
            # Written by TestSupport's ReplayingPython (tests only): guardianflow's training call
            # replays \(recording) instead; every other call goes to \(python).
            if [ "$#" -eq 4 ] && [ "$1" = "-m" ] && [ "$2" = "guardianflow_trainer" ] && [ "$3" = "--job" ]; then
                exec \(real) -m guardianflow_trainer.replay --recording \(quoted(recording)) --delay \(quoted(String(delay))) --job "$4"
            fi
            if [ "$1" = "-m" ] && [ "$2" = "guardianflow_trainer" ]; then
                echo "ReplayingPython: unrecognised trainer call: $*" >&2
                exit \(unrecognisedCall)
            fi
            exec \(real) "$@"

            """
        let path = bin + "/python"
        try Self.writeExecutable(script, to: path)
        return path
    }

    /// `text` as one single-quoted shell word.
    static func quoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    /// Writes an executable script through a close-on-exec descriptor: a child another test
    /// spawns meanwhile must not inherit the writing descriptor, or every exec of the script
    /// fails with ETXTBSY for as long as that child lives (a server, for minutes).
    public static func writeExecutable(_ text: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        guard fd >= 0 else { throw Python.Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count, fchmod(fd, 0o755) == 0 else {
            throw Python.Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

import Foundation
import GuardianFlow
import Testing
import TestSupport

/// The load test's seam: the stand-in `python` that replays where guardianflow would train
/// (Tests/TestSupport/ReplayingPython.swift). No server and no training: a recorded error event.
@Suite("ReplayingPython, the load test's stand-in trainer Python")
struct ReplayingPythonTests {
    /// A recording of a failed training (one `error` event), in a folder whose name needs quoting.
    static func recording() throws -> (directory: String, line: String) {
        let directory = TestEnvironment.temporaryDirectory("replaying") + "/rec it's"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let line = #"{"event":"error","kind":"oom","message":"CUDA out of memory","phase":"train"}"#
        try (line + "\n").write(toFile: directory + "/events.jsonl", atomically: true, encoding: .utf8)
        return (directory, line)
    }

    @Test("guardianflow's training call, -m guardianflow_trainer --job FILE, replays the recording")
    func trainingCallReplays() async throws {
        let (recording, line) = try Self.recording()
        let python = try ReplayingPython.make(recording: recording, delay: 0)
        let work = TestEnvironment.temporaryDirectory("replaying-job")
        let job: [String: Any] = [
            "model": "yolov8n.yaml", "data": TestEnvironment.repoRoot + "/examples/ppe-sample/data.yaml", "epochs": 1,
            "project": work + "/runs", "name": "r",
        ]
        try JSONSerialization.data(withJSONObject: job).write(to: URL(fileURLWithPath: work + "/job.json"))
        let result = try await ChildProcess.run(
            python, ["-m", "guardianflow_trainer", "--job", work + "/job.json"], environment: TestEnvironment.cleanEnvironment(),
            timeout: .seconds(60))
        #expect(result.exit == .exited(1), "\(result.stderr)")
        let events = result.stdout.split(separator: "\n").map(String.init)
        #expect(events.count == 1)
        let replayed = try #require(try JSONSerialization.jsonObject(with: Data((events.first ?? "").utf8)) as? [String: String])
        let recorded = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(replayed == recorded)
        #expect(result.stderr.contains("guardianflow_trainer: replaying \(recording)"), "\(result.stderr)")
    }

    @Test("every other call reaches the real Python unchanged; an unknown trainer call fails")
    func otherCallsPassThrough() async throws {
        let (recording, _) = try Self.recording()
        let python = try ReplayingPython.make(recording: recording, delay: 0.3)
        let probe = try await ChildProcess.run(
            python, ["-c", "import json, sys; print(json.dumps(sys.argv[1:]))", "a b", "it's", "-m", "guardianflow_trainer"],
            environment: TestEnvironment.cleanEnvironment(), timeout: .seconds(60))
        #expect(probe.exit == .exited(0), "\(probe.stderr)")
        #expect(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == #"["a b", "it's", "-m", "guardianflow_trainer"]"#)

        let versions = try await PythonEnvironment(python: python).packageVersions(["mlflow"])
        #expect((versions["mlflow"] ?? nil) != nil)

        let unknown = try await ChildProcess.run(
            python, ["-m", "guardianflow_trainer", "--job", "x.json", "--more"], environment: TestEnvironment.cleanEnvironment())
        #expect(unknown.exit == .exited(ReplayingPython.unrecognisedCall))
        #expect(unknown.stdout.isEmpty)
    }

    @Test("laid out as a venv: lib/ and bin/mlflow are the real venv's")
    func venvLayout() throws {
        let python = try ReplayingPython.make(recording: "/nowhere", delay: 0)
        let root = ((python as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        let real = ((TestEnvironment.python as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        #expect(FileManager.default.isExecutableFile(atPath: python))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/lib") == real + "/lib")
        #expect(FileManager.default.isExecutableFile(atPath: root + "/bin/mlflow"))
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GuardianFlow
import HTTPSupport
import MLflow
import Testing
import TestSupport

/// The journal, the logger that delivers it, and leases, at the wire level.
@Suite("Run journal, logger and leases")
struct RunJournalTests {
    final class Switch: @unchecked Sendable {
        let lock = NSLock()
        var down = false
        var accepted: [RecordedRequest] = []
        func set(_ value: Bool) { lock.withLock { down = value } }
        var isDown: Bool { lock.withLock { down } }
        /// 503 while down; otherwise the request is kept as taken.
        func answer(_ request: RecordedRequest) -> TestResponse {
            lock.withLock {
                if down { return .json(#"{"error_code": "TEMPORARILY_UNAVAILABLE"}"#, status: 503) }
                accepted.append(request)
                return .json("{}")
            }
        }
        var taken: [RecordedRequest] { lock.withLock { accepted } }
    }

    static func metrics(_ request: RecordedRequest) -> [[String: Any]] {
        (request.json["metrics"] as? [[String: Any]]) ?? []
    }

    @Test("an outage: batches wait in the journal, then go in order with their own timestamps, coalesced into requests of up to 1000 metrics")
    func outageReplay() async throws {
        let outage = Switch()
        let server = try await TestHTTPServer { outage.answer($0) }
        defer { Task { await server.shutdown() } }
        let work = TestEnvironment.temporaryDirectory("journal")
        let journal = try RunJournal(workDir: work, runId: "r1")
        let logger = RunLogger(journal: journal, client: try server.client(retry: .none), maxBackoff: .milliseconds(50))
        outage.set(true)
        logger.start()
        for epoch in 1...300 {
            logger.log(metrics: (0..<20).map { Metric(key: "m\($0)", value: Double(epoch), timestamp: 1_000_000 + Int64(epoch), step: Int64(epoch)) })
        }
        #expect(journal.pendingCount == 300)
        let deadline = ContinuousClock.now + .seconds(10)
        while !logger.inOutage, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(logger.inOutage)
        #expect(outage.taken.isEmpty)
        outage.set(false)
        let clock = ContinuousClock()
        let started = clock.now
        #expect(await logger.drain(timeout: .seconds(30)))
        let replay = clock.now - started
        await logger.stop()

        let delivered = outage.taken
        #expect(delivered.count == 6, "6000 metrics in requests of up to 1000, whole records each: \(delivered.count)")
        let points = delivered.flatMap(Self.metrics)
        #expect(points.count == 6000)
        let steps = points.filter { $0["key"] as? String == "m0" }.compactMap { $0["step"] as? Int }
        #expect(steps == Array(1...300), "in order, each once")
        #expect(points.allSatisfy { ($0["timestamp"] as? Int) == 1_000_000 + ($0["step"] as? Int ?? -1) }, "original timestamps")
        #expect(journal.pendingCount == 0)
        #expect(try String(contentsOfFile: "\(work)/journal/r1.delivered", encoding: .utf8) == "300")
        #expect(replay < .seconds(5), "\(replay)")
    }

    @Test("a batch the server refuses is skipped with a notice; the rest is delivered")
    func refusedBatch() async throws {
        let server = try await TestHTTPServer { request in
            Self.metrics(request).contains { $0["key"] as? String == "bad" }
                ? .json(#"{"error_code": "INVALID_PARAMETER_VALUE", "message": "bad"}"#, status: 400) : .json("{}")
        }
        defer { Task { await server.shutdown() } }
        let journal = try RunJournal(workDir: TestEnvironment.temporaryDirectory("journal"), runId: "r2")
        let notices = LogCapture()
        let logger = RunLogger(journal: journal, client: try server.client(retry: .none), logger: notices.logger)
        logger.log(metrics: [Metric(key: "a", value: 1, timestamp: 1, step: 1)])
        logger.log(metrics: [Metric(key: "bad", value: 2, timestamp: 2, step: 2)])
        logger.log(metrics: [Metric(key: "a", value: 3, timestamp: 3, step: 3)])
        logger.start()
        #expect(await logger.drain(timeout: .seconds(10)))
        await logger.stop()
        #expect(logger.rejected.map(\.seq) == [1])
        #expect(notices.contains("refused journal record 1"))
        #expect(notices.level(of: "refused journal record 1") == .warning, "a refused batch is a warning: work goes on")
        let accepted = server.requests.filter { !Self.metrics($0).contains { $0["key"] as? String == "bad" } }.flatMap(Self.metrics)
        #expect(accepted.compactMap { $0["step"] as? Int } == [1, 3])
    }

    @Test("a crash mid-append: the partial line is ignored, a new process sees what was not delivered")
    func crashRecovery() throws {
        let work = TestEnvironment.temporaryDirectory("journal")
        let journal = try RunJournal(workDir: work, runId: "r3")
        for i in 0..<3 { try journal.append { .batch(seq: $0, metrics: [Metric(key: "k", value: Double(i), timestamp: 1, step: Int64(i))], params: [], tags: []) } }
        try journal.markDelivered(through: 0)
        let handle = try #require(FileHandle(forWritingAtPath: journal.path))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"seq":3,"kind":"bat"#.utf8))
        try handle.close()
        let reopened = try RunJournal(workDir: work, runId: "r3")
        #expect(reopened.all.count == 3)
        #expect(reopened.pending.map(\.seq) == [1, 2])
        #expect(RunJournal.runIds(workDir: work) == ["r3"])
    }

    @Test("a lease is alive while its process runs, and dead once it has gone or its pid was reused")
    func leases() async throws {
        let work = TestEnvironment.temporaryDirectory("leases")
        let mine = RunLease.mine(runId: "r4", experimentId: "1", artifactURI: "mlflow-artifacts:/x", trackingURI: "http://127.0.0.1:1")
        try mine.write(workDir: work)
        #expect(RunLease.all(workDir: work) == [mine])
        #expect(mine.holderIsAlive)

        let child = try ChildProcess.spawn(ProcessSpec(executable: "/bin/true"))
        _ = await child.waitForExit()
        var gone = mine
        gone.pid = child.pid
        #expect(!gone.holderIsAlive)

        var reused = mine
        reused.processStart += 1  // same pid, another process
        #expect(!reused.holderIsAlive)
        var rebooted = mine
        rebooted.bootId = "another-boot"
        #expect(!rebooted.holderIsAlive)

        RunLease.release(workDir: work, runId: "r4")
        #expect(RunLease.all(workDir: work).isEmpty)
    }
}

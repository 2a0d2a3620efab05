import Foundation
import Testing
import TestSupport

@testable import MLflow

/// The client against a real local HTTP server that records what it receives.
@Suite("MLflow client on the wire")
struct WireTests {
    static let runJSON = """
        {"run":{"info":{"run_id":"r1","run_name":"n","experiment_id":"1","status":"RUNNING","start_time":"1700000000000",
        "artifact_uri":"mlflow-artifacts:/1/r1/artifacts","lifecycle_stage":"active"},"data":{}}}
        """

    @Test("create-run sends JSON with the documented fields")
    func createRunShape() async throws {
        let server = try await TestHTTPServer { _ in .json(Self.runJSON) }
        defer { Task { await server.shutdown() } }
        let client = try server.client()
        let info = try await client.createRun(experimentId: "1", runName: "n", startTime: 42, tags: ["customer": "acme"], createToken: "tok-1")
        #expect(info.runId == "r1")
        #expect(info.startTime == 1_700_000_000_000)
        let request = try #require(server.requests.first)
        #expect(request.method == "POST")
        #expect(request.path == "/api/2.0/mlflow/runs/create")
        #expect(request.header("Content-Type") == "application/json")
        let body = request.json
        #expect(body["experiment_id"] as? String == "1")
        #expect(body["start_time"] as? Int == 42)
        #expect(
            (body["tags"] as? [[String: String]]) == [["key": "client.create_token", "value": "tok-1"], ["key": "customer", "value": "acme"]])
    }

    /// The run search's answer: the run the lost create made when `made`, else none.
    static func searchAnswer(made: Bool) -> TestResponse {
        .json(made ? #"{"runs":[\#(runJSON.dropFirst(7).dropLast(1))]}"# : "{}")
    }

    @Test("a create whose connection was lost looks for what it made before sending again, and sends nothing twice",
          arguments: [true, false])
    func createAfterLostConnection(made: Bool) async throws {
        let creates = Counter()
        let server = try await TestHTTPServer { request in
            switch request.path {
            case "/api/2.0/mlflow/runs/create": return creates.next() == 1 ? .close : .json(Self.runJSON)
            case "/api/2.0/mlflow/runs/search":
                let filter = request.json["filter"] as? String ?? ""
                return filter.contains("tok-9") ? Self.searchAnswer(made: made) : .json("{}")
            default: return .reply(status: 404)
            }
        }
        defer { Task { await server.shutdown() } }
        let info = try await server.client().createRun(experimentId: "1", createToken: "tok-9")
        #expect(info.runId == "r1")
        let paths = server.requests.map { $0.path.replacingOccurrences(of: "/api/2.0/mlflow/", with: "") }
        // Made: found by its token, not created again. Not made: created a second time, once.
        #expect(paths == (made ? ["runs/create", "runs/search"] : ["runs/create", "runs/search", "runs/create"]))
    }

    @Test("a create the server refuses outright (4xx) is neither searched for nor retried")
    func createRefused() async throws {
        let server = try await TestHTTPServer { _ in .json(#"{"error_code":"INVALID_PARAMETER_VALUE","message":"bad"}"#, status: 400) }
        defer { Task { await server.shutdown() } }
        await #expect(throws: MLflowError.self) { try await server.client().createRun(experimentId: "1") }
        #expect(server.requests.map(\.path) == ["/api/2.0/mlflow/runs/create"])
    }

    @Test("Basic auth from username/password, Bearer from a token, Basic from URI credentials")
    func authHeaders() async throws {
        let server = try await TestHTTPServer { _ in .json("{}") }
        defer { Task { await server.shutdown() } }
        try await server.client(auth: .basic(username: "ann", password: "pw")).setTag(runId: "r", key: "k", value: "v")
        try await server.client(auth: .bearer(token: "tok123")).setTag(runId: "r", key: "k", value: "v")
        let viaURI = try MLflowClient(trackingURI: "http://bob:s3cret@127.0.0.1:\(server.port)")
        try await viaURI.setTag(runId: "r", key: "k", value: "v")
        let headers = server.requests.map { $0.header("Authorization") }
        #expect(headers == ["Basic YW5uOnB3", "Bearer tok123", "Basic Ym9iOnMzY3JldA=="])
    }

    @Test("2500 metrics and 150 params go as 3 log-batch requests within the limits")
    func logBatchChunking() async throws {
        let server = try await TestHTTPServer { _ in .json("{}") }
        defer { Task { await server.shutdown() } }
        let metrics = (0..<2500).map { Metric(key: "k\($0 % 10)", value: Double($0), timestamp: 1, step: Int64($0)) }
        let params = (0..<150).map { KeyValue(key: "p\($0)", value: "v") }
        try await server.client().logBatch(runId: "r1", metrics: metrics + [Metric(key: "bad", value: .nan, timestamp: 1)], params: params)
        let bodies = server.requests.map(\.json)
        #expect(bodies.count == 3)
        let metricCounts = bodies.map { ($0["metrics"] as? [Any])?.count ?? -1 }
        let paramCounts = bodies.map { ($0["params"] as? [Any])?.count ?? -1 }
        #expect(metricCounts.reduce(0, +) == 2500)
        #expect(paramCounts == [100, 50, 0])
        #expect(metricCounts == [900, 950, 650])
        #expect(bodies.allSatisfy { $0["run_id"] as? String == "r1" })
        for body in bodies { #expect(((body["metrics"] as? [Any])?.count ?? 0) + ((body["params"] as? [Any])?.count ?? 0) <= 1000) }
        let keys = bodies.flatMap { ($0["metrics"] as? [[String: Any]]) ?? [] }.compactMap { $0["key"] as? String }
        #expect(!keys.contains("bad"))
    }

    @Test("503 twice then 200: retried with growing waits on the injected clock")
    func retriesServerErrors() async throws {
        let counter = Counter()
        let server = try await TestHTTPServer { _ in
            counter.next() <= 2 ? .json(#"{"error_code":"TEMPORARILY_UNAVAILABLE","message":"busy"}"#, status: 503) : .json("{}")
        }
        defer { Task { await server.shutdown() } }
        let clock = ManualRetryClock()
        try await server.client(clock: clock).setTag(runId: "r", key: "k", value: "v")
        #expect(server.requests.count == 3)
        #expect(clock.sleeps == [.milliseconds(200), .milliseconds(400)])
    }

    @Test("Retry-After is honoured")
    func honoursRetryAfter() async throws {
        let counter = Counter()
        let server = try await TestHTTPServer { _ in
            counter.next() == 1 ? .reply(status: 429, headers: [("Retry-After", "2")], body: Data()) : .json("{}")
        }
        defer { Task { await server.shutdown() } }
        let clock = ManualRetryClock()
        try await server.client(clock: clock).setTag(runId: "r", key: "k", value: "v")
        #expect(clock.sleeps == [.seconds(2)])
    }

    @Test("a Retry-After beyond the budget fails at once instead of waiting")
    func retryAfterBeyondBudget() async throws {
        let server = try await TestHTTPServer { _ in .reply(status: 503, headers: [("Retry-After", "60")], body: Data()) }
        defer { Task { await server.shutdown() } }
        let clock = ManualRetryClock()
        await #expect(throws: MLflowError.self) {
            try await server.client(clock: clock).setTag(runId: "r", key: "k", value: "v")
        }
        #expect(server.requests.count == 1)
        #expect(clock.sleeps.isEmpty)
    }

    @Test("4xx is never retried and carries status, error_code and message")
    func noRetryOn4xx() async throws {
        let server = try await TestHTTPServer { _ in
            .json(#"{"error_code":"INVALID_PARAMETER_VALUE","message":"Param lr already logged"}"#, status: 400)
        }
        defer { Task { await server.shutdown() } }
        do {
            try await server.client().setTag(runId: "r", key: "k", value: "v")
            Issue.record("expected an error")
        } catch let error as MLflowError {
            #expect(error.status == 400)
            #expect(error.errorCode == "INVALID_PARAMETER_VALUE")
            #expect(error.description.contains("Param lr already logged"))
        }
        #expect(server.requests.count == 1)
    }

    @Test("the retry budget bounds the total time")
    func budget() async throws {
        let server = try await TestHTTPServer { _ in .reply(status: 502) }
        defer { Task { await server.shutdown() } }
        let clock = ManualRetryClock()
        let policy = RetryPolicy(maxAttempts: 100, initialBackoff: .milliseconds(200), maxBackoff: .seconds(10), budget: .seconds(3))
        await #expect(throws: MLflowError.self) {
            try await server.client(retry: policy, clock: clock).setTag(runId: "r", key: "k", value: "v")
        }
        // Jitter is centred (random 0.5): 0.2 + 0.4 + 0.8 + 1.6 s = 3 s fit the budget exactly;
        // the next wait (3.2 s) would not, so the fifth attempt is the last.
        #expect(clock.sleeps == [.milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600)])
        #expect(clock.sleeps.reduce(Duration.zero, +) <= .seconds(3))
        #expect(server.requests.count == 5)
    }

    @Test("401 and 403 are authentication errors, not retried")
    func authRefused() async throws {
        let server = try await TestHTTPServer { _ in .reply(status: 401, body: Data("You are not authenticated".utf8)) }
        defer { Task { await server.shutdown() } }
        do {
            _ = try await server.client(auth: .basic(username: "a", password: "wrong")).getRun(id: "x")
            Issue.record("expected an error")
        } catch let error as MLflowError {
            guard case .authenticationRefused(_, 401, _) = error else { Issue.record("got \(error)"); return }
            #expect(!error.description.contains("wrong"))
        }
        #expect(server.requests.count == 1)
    }

    @Test("garbage instead of JSON is an invalid response naming the endpoint")
    func garbage() async throws {
        let server = try await TestHTTPServer { _ in .reply(status: 200, body: Data("<html>proxy login</html>".utf8)) }
        defer { Task { await server.shutdown() } }
        do {
            _ = try await server.client().getRun(id: "x")
            Issue.record("expected an error")
        } catch let error as MLflowError {
            guard case .invalidResponse(let endpoint, 200, _) = error else { Issue.record("got \(error)"); return }
            #expect(endpoint == "GET runs/get")
        }
    }

    @Test("a connection closed without an answer is retried, then reported unreachable")
    func closedConnections() async throws {
        let server = try await TestHTTPServer { _ in .close }
        defer { Task { await server.shutdown() } }
        let clock = ManualRetryClock()
        let policy = RetryPolicy(maxAttempts: 3, budget: .seconds(10))
        do {
            try await server.client(retry: policy, clock: clock).setTag(runId: "r", key: "k", value: "v")
            Issue.record("expected an error")
        } catch let error as MLflowError {
            guard case .unreachable(_, _, 3) = error else { Issue.record("got \(error)"); return }
        }
        #expect(clock.sleeps.count == 2)
    }

    @Test("requests reuse one kept-alive connection")
    func keepAlive() async throws {
        let server = try await TestHTTPServer { _ in .json("{}") }
        defer { Task { await server.shutdown() } }
        let client = try server.client()
        for i in 0..<20 { try await client.setTag(runId: "r", key: "k\(i)", value: "v") }
        #expect(server.requests.count == 20)
        #expect(server.connectionCount == 1)
    }

    @Test("uploads stream the file's bytes to the proxy path, escaped; downloads land on disk")
    func artifactsWire() async throws {
        let payload = Data((0..<3_000_000).map { UInt8($0 % 251) })
        let server = try await TestHTTPServer { request in
            request.method == "GET" ? .reply(status: 200, body: payload) : .json("{}")
        }
        defer { Task { await server.shutdown() } }
        let dir = TestEnvironment.temporaryDirectory()
        let file = dir + "/best.pt"
        try payload.write(to: URL(fileURLWithPath: file))
        let client = try server.client()
        try await client.uploadArtifact(localFile: file, to: "1/abc/artifacts/weights/my best+1.pt")
        let put = try #require(server.requests.first)
        #expect(put.method == "PUT")
        #expect(put.path == "/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/weights/my%20best%2B1.pt")
        #expect(put.body == payload)
        try await client.downloadArtifact("1/abc/artifacts/weights/best.pt", to: dir + "/out/best.pt")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/out/best.pt")) == payload)
        #expect(!FileManager.default.fileExists(atPath: dir + "/out/best.pt.part"))
    }

    @Test("a failed download leaves no file behind")
    func failedDownload() async throws {
        let server = try await TestHTTPServer { _ in .json(#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no"}"#, status: 404) }
        defer { Task { await server.shutdown() } }
        let dir = TestEnvironment.temporaryDirectory()
        await #expect(throws: MLflowError.self) {
            try await server.client().downloadArtifact("x/y.pt", to: dir + "/y.pt")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/y.pt"))
    }

    @Test("get-or-create experiment: on RESOURCE_ALREADY_EXISTS it reads the winner's")
    func experimentRace() async throws {
        let counter = Counter()
        let server = try await TestHTTPServer { request in
            switch request.path {
            case "/api/2.0/mlflow/experiments/get-by-name":
                return counter.next() == 1
                    ? .json(#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"none"}"#, status: 404)
                    : .json(#"{"experiment":{"experiment_id":"7","name":"ppe","lifecycle_stage":"active"}}"#)
            case "/api/2.0/mlflow/experiments/create":
                return .json(#"{"error_code":"RESOURCE_ALREADY_EXISTS","message":"exists"}"#, status: 400)
            default:
                return .reply(status: 500)
            }
        }
        defer { Task { await server.shutdown() } }
        let experiment = try await server.client().getOrCreateExperiment(named: "ppe")
        #expect(experiment.experimentId == "7")
        #expect(server.requests.map(\.path).map { $0.split(separator: "/").last! } == ["get-by-name", "create", "get-by-name"])
    }

    @Test("searches follow next_page_token")
    func paging() async throws {
        let server = try await TestHTTPServer { request in
            let token = request.json["page_token"] as? String
            switch token {
            case nil: return .json(#"{"experiments":[{"experiment_id":"1","name":"a"}],"next_page_token":"p2"}"#)
            case "p2": return .json(#"{"experiments":[{"experiment_id":"2","name":"b"}],"next_page_token":"p3"}"#)
            default: return .json(#"{"experiments":[{"experiment_id":"3","name":"c"}]}"#)
            }
        }
        defer { Task { await server.shutdown() } }
        let all = try await server.client().allExperiments()
        #expect(all.map(\.name) == ["a", "b", "c"])
    }

    @Test("waitUntilReady polls until READY and reports FAILED_REGISTRATION")
    func waitReady() async throws {
        let counter = Counter()
        let server = try await TestHTTPServer { request in
            let status = request.uri.contains("name=bad") ? "FAILED_REGISTRATION" : (counter.next() < 3 ? "PENDING_REGISTRATION" : "READY")
            return .json(#"{"model_version":{"name":"m","version":"1","status":"\#(status)","status_message":"copy failed"}}"#)
        }
        defer { Task { await server.shutdown() } }
        let clock = ManualRetryClock()
        let client = try server.client(clock: clock)
        let ready = try await client.waitUntilReady(name: "m", version: "1")
        #expect(ready.isReady)
        #expect(clock.sleeps.count == 2)
        await #expect(throws: MLflowError.registration(name: "bad", version: "1", detail: "copy failed")) {
            try await client.waitUntilReady(name: "bad", version: "1")
        }
    }
}

/// A thread-safe request counter for handlers.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}

@Suite("Write conflicts")
struct WriteConflictTests {
    @Test("a unique-constraint 400 from concurrent upserts is retried; other 400s are not")
    func retriesIntegrityErrors() async throws {
        let counter = Counter()
        let server = try await TestHTTPServer { _ in
            counter.next() == 1
                ? .json(#"{"error_code":"BAD_REQUEST","message":"(sqlite3.IntegrityError) UNIQUE constraint failed: model_version_tags.key"}"#, status: 400)
                : .json("{}")
        }
        defer { Task { await server.shutdown() } }
        try await server.client().setModelVersionTag(name: "m", version: "1", key: "k", value: "v")
        #expect(server.requests.count == 2)
        #expect(!MLflowClient.isWriteConflict(.api(endpoint: "e", status: 400, errorCode: "BAD_REQUEST", message: "bad json")))
    }
}

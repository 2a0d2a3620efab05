import Foundation
import HTTPSupport
import Testing
import TestSupport

@testable import S3

/// The client against moto's S3 server with signatures checked: a wrong signature fails.
@Suite("S3 client against a signing S3 server", .s3Server)
struct S3ClientTests {
    func client(_ server: S3TestServer, partSize: Int64 = 5 * 1024 * 1024, transport: (any HTTPTransport)? = nil) -> S3Client {
        var configuration = S3Configuration(
            endpoint: server.endpoint, accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey)
        configuration.partSize = partSize
        configuration.multipartThreshold = partSize
        configuration.concurrency = 3
        configuration.retry = RetryPolicy(maxAttempts: 2, budget: .seconds(5))
        return S3Client(configuration: configuration, transport: transport)
    }

    func bucket(_ client: S3Client) async throws -> String {
        let name = "gf-\(UUID().uuidString.prefix(8).lowercased())"
        try await client.createBucket(name)
        return name
    }

    @Test("awkward keys round-trip: put, head, list, get, delete")
    func awkwardKeys() async throws {
        let client = client(try currentS3Server())
        let bucket = try await bucket(client)
        let keys = SigV4SignerTests.keys.filter { !$0.hasSuffix("/") }
        for (i, key) in keys.enumerated() {
            let data = Data("object \(i) \(key)".utf8)
            let stored = try await client.putObject(bucket: bucket, key: key, data: data)
            #expect(stored.size == Int64(data.count))
            #expect(try await client.headObject(bucket: bucket, key: key)?.size == Int64(data.count), "\(key)")
        }
        let listed = try await client.listObjects(bucket: bucket, pageSize: 4)
        #expect(Set(listed.map(\.key)) == Set(keys))
        let dir = TestEnvironment.temporaryDirectory("s3get")
        for (i, key) in keys.enumerated() {
            let file = "\(dir)/\(i)"
            try await client.download(bucket: bucket, key: key, to: file)
            #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == Data("object \(i) \(key)".utf8), "\(key)")
        }
        for key in keys { try await client.deleteObject(bucket: bucket, key: key) }
        #expect(try await client.listObjects(bucket: bucket).isEmpty)
    }

    @Test("a multipart upload of several parts in parallel; size and SHA-256 verified; ranged parallel download")
    func multipart() async throws {
        let client = client(try currentS3Server())
        let bucket = try await bucket(client)
        let dir = TestEnvironment.temporaryDirectory("mpu")
        let file = dir + "/big.bin"
        var data = Data(count: 17 * 1024 * 1024 + 123)
        data.withUnsafeMutableBytes { raw in
            for i in stride(from: 0, to: raw.count, by: 4096) { raw[i] = UInt8(truncatingIfNeeded: i / 4096) }
        }
        try data.write(to: URL(fileURLWithPath: file))
        let result = try await client.upload(file: file, bucket: bucket, key: "weights/big model.pt")
        #expect(result.parts == 4)
        #expect(result.size == Int64(data.count))
        #expect(result.etag.hasSuffix("-4"))
        let expectedSHA = Self.sha256(data)
        #expect(result.sha256 == expectedSHA)
        let sha = try await client.download(bucket: bucket, key: "weights/big model.pt", to: dir + "/back.bin")
        #expect(sha == expectedSHA)
        #expect(try await client.listMultipartUploads(bucket: bucket).isEmpty)
    }

    @Test("an upload that fails mid-way is aborted and leaves no multipart upload or object behind")
    func interrupted() async throws {
        let server = try currentS3Server()
        let failing = FailingTransport(failOnPart: 3)
        let client = client(server, transport: failing)
        let bucket = try await bucket(self.client(server))
        let file = TestEnvironment.temporaryDirectory("mpu-fail") + "/big.bin"
        try Data(count: 16 * 1024 * 1024).write(to: URL(fileURLWithPath: file))
        await #expect(throws: (any Error).self) { try await client.upload(file: file, bucket: bucket, key: "broken.pt") }
        let plain = self.client(server)
        #expect(try await plain.listMultipartUploads(bucket: bucket).isEmpty)
        #expect(try await plain.headObject(bucket: bucket, key: "broken.pt") == nil)
    }

    @Test("wrong credentials are refused at once, naming endpoint and bucket, never the secret")
    func wrongCredentials() async throws {
        let server = try currentS3Server()
        let bucket = try await bucket(client(server))
        var configuration = S3Configuration(endpoint: server.endpoint, accessKeyId: server.accessKeyId, secretAccessKey: "wrong-secret-canary")
        configuration.retry = RetryPolicy(maxAttempts: 3, budget: .seconds(5))
        // "At once" is one request: a refusal of the credentials is never retried. (Wall time,
        // which moto's load from the suite's other tests stretches, is only a sanity bound.)
        let answers = AnswerCount()
        let wrong = S3Client(
            configuration: configuration,
            transport: HookedTransport(server: server, response: { _, response in
                answers.add()
                return response
            }))
        let started = ContinuousClock.now
        do {
            try await wrong.headBucket(bucket)
            Issue.record("expected a refusal")
        } catch let error as S3Error {
            #expect(error.isCredentials)
            #expect(error.description.contains(server.endpoint))
            #expect(error.description.contains(bucket))
            #expect(!error.description.contains("wrong-secret-canary"))
        }
        #expect(answers.count == 1, "refused credentials are not retried")
        #expect(ContinuousClock.now - started < .seconds(10))
    }
}

/// Counts the answers a transport saw, from any thread.
final class AnswerCount: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    var count: Int { lock.withLock { value } }
    func add() { lock.withLock { value += 1 } }
}

/// The real transport, but part `failOnPart` of a multipart upload fails with a connection error.
struct FailingTransport: HTTPTransport {
    let inner = AsyncHTTPClientTransport.shared()
    let failOnPart: Int

    func execute(_ request: HTTPRequest, timeout: Duration) async throws -> HTTPResponse {
        if request.url.contains("partNumber=\(failOnPart)&") {
            throw TransportError(kind: .connection, detail: "connection reset (injected)")
        }
        return try await inner.execute(request, timeout: timeout)
    }

    func download(_ request: HTTPRequest, to destination: String, timeout: Duration) async throws -> HTTPResponse {
        try await inner.download(request, to: destination, timeout: timeout)
    }

    func download(_ request: HTTPRequest, intoFile path: String, at offset: Int64, timeout: Duration) async throws -> HTTPResponse {
        try await inner.download(request, intoFile: path, at: offset, timeout: timeout)
    }
}

@Suite("S3 errors on the wire")
struct S3WireTests {
    @Test("RequestTimeTooSkewed is reported with the measured skew and the fix, not retried")
    func clockSkew() async throws {
        let serverTime = Date()
        let stamp = ISO8601DateFormatter().string(from: serverTime)
        let httpDate = DateFormatter()
        httpDate.locale = Locale(identifier: "en_US_POSIX")
        httpDate.timeZone = TimeZone(identifier: "GMT")
        httpDate.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let dateHeader = httpDate.string(from: serverTime)
        let server = try await TestHTTPServer { _ in
            .reply(
                status: 403, headers: [("Content-Type", "application/xml"), ("Date", dateHeader)],
                body: Data(
                    "<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message><ServerTime>\(stamp)</ServerTime></Error>".utf8))
        }
        defer { Task { await server.shutdown() } }
        let client = S3Client(
            configuration: S3Configuration(endpoint: server.url, accessKeyId: "AKID", secretAccessKey: "secret"),
            now: { serverTime.addingTimeInterval(1800) })
        // GET has the error document; HEAD only the Date header.
        for attempt in [{ _ = try await client.listObjects(bucket: "b") }, { try await client.headBucket("b") }] as [@Sendable () async throws -> Void] {
            do {
                try await attempt()
                Issue.record("expected an error")
            } catch let error as S3Error {
                guard case .clockSkew(_, let skew) = error else { Issue.record("got \(error)"); continue }
                #expect(abs(skew - 1800) < 5)
                #expect(error.description.contains("ahead of"))
                #expect(error.description.contains("NTP"))
            }
        }
        #expect(server.requests.count == 2)
    }
}

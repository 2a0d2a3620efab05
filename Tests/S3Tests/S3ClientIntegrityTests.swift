import Crypto
import Foundation
import HTTPSupport
import Testing
import TestSupport

@testable import S3

/// Downloads tied to one version of the object and counted byte for byte, against moto (in the
/// suite of ``S3ClientTests``, so on its server).
extension S3ClientTests {
    /// 17 MiB + 123 bytes: four ranges of 5 MiB, the last one short.
    static let bigSize = 17 * 1024 * 1024 + 123

    /// `count` bytes that differ with `seed` in every 4 KiB block.
    static func pattern(_ count: Int, seed: UInt8) -> Data {
        var data = Data(count: count)
        data.withUnsafeMutableBytes { raw in
            for i in stride(from: 0, to: raw.count, by: 4096) { raw[i] = UInt8(truncatingIfNeeded: i / 4096) &+ seed }
        }
        return data
    }

    static func sha256(_ data: Data) -> String { SigV4Signer.hex(SHA256.hash(data: data)) }

    /// A new bucket on the suite's moto, holding `key`: ``bigSize`` bytes of ``pattern(_:seed:)``.
    func storedObject(_ key: String, seed: UInt8) async throws -> (server: S3TestServer, client: S3Client, bucket: String, data: Data) {
        let server = try currentS3Server()
        let client = client(server)
        let bucket = try await bucket(client)
        let data = Self.pattern(Self.bigSize, seed: seed)
        try await client.putObject(bucket: bucket, key: key, data: data)
        return (server, client, bucket, data)
    }

    /// The object's ETag as S3 sends it, quoted.
    func quotedETag(_ client: S3Client, _ bucket: String, _ key: String) async throws -> String {
        "\"\(try #require(try await client.headObject(bucket: bucket, key: key)).etag)\""
    }

    @Test("every GET of a download, ranged or whole, carries If-Match with the ETag the HEAD gave")
    func ifMatchOnEveryGet() async throws {
        let server = try currentS3Server()
        let log = WireLog()
        let client = client(server, transport: HookedTransport(server: server, request: { await log.record($0); return nil }))
        let plain = self.client(server)
        let bucket = try await bucket(plain)
        let big = Self.pattern(Self.bigSize, seed: 1)
        let small = Data("a small object, fetched with one GET".utf8)
        try await plain.putObject(bucket: bucket, key: "big.bin", data: big)
        try await plain.putObject(bucket: bucket, key: "small.bin", data: small)
        let dir = TestEnvironment.temporaryDirectory("ifmatch")

        let sha = try await client.download(bucket: bucket, key: "big.bin", to: dir + "/big.bin")
        #expect(sha == Self.sha256(big))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/big.bin")) == big)
        try await client.download(bucket: bucket, key: "small.bin", to: dir + "/small.bin", sha256: Self.sha256(small))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/small.bin")) == small)

        let gets = await log.requests.filter { $0.method == "GET" }
        let bigGets = gets.filter { $0.url.hasSuffix("/big.bin") }
        #expect(bigGets.count == 4)
        let mib: Int64 = 1024 * 1024
        let starts: Set<Int64> = [0, 5 * mib, 10 * mib, 15 * mib]
        #expect(Set(bigGets.compactMap(\.rangeStart)) == starts)
        let bigETag = try await quotedETag(plain, bucket, "big.bin")
        for get in bigGets { #expect(get.header("if-match") == bigETag, "\(get.header("range") ?? "no range")") }
        let smallGets = gets.filter { $0.url.hasSuffix("/small.bin") }
        #expect(smallGets.count == 1)
        #expect(smallGets.first?.header("if-match") == (try await quotedETag(plain, bucket, "small.bin")))
    }

    @Test("an object replaced between ranges fails as changed (moto answers 412), not stitched, and leaves no file")
    func replacedMidDownload() async throws {
        let (server, plain, bucket, before) = try await storedObject("model.pt", seed: 1)
        let after = Self.pattern(Self.bigSize, seed: 2)  // same size: the size check alone cannot tell
        let log = WireLog()
        let transport = HookedTransport(
            server: server,
            request: { request in
                // Every range but the first waits until the object has been replaced.
                if let start = request.rangeStart, start > 0 { await log.waitUntilOpen() }
                return nil
            },
            response: { request, response in
                await log.record(status: response.status)
                if request.rangeStart == 0 {
                    try await plain.putObject(bucket: bucket, key: "model.pt", data: after)
                    await log.open()
                }
                return response
            })
        let client = client(server, transport: transport)
        let dir = TestEnvironment.temporaryDirectory("replaced")
        let destination = dir + "/model.pt"

        do {
            try await client.download(bucket: bucket, key: "model.pt", to: destination)
            Issue.record("a download that spans two versions of the object succeeded")
        } catch let error as S3Error {
            guard case .integrity(let message) = error else { throw error }
            #expect(message.contains("changed while it was being downloaded"))
            #expect(message.contains("download it again"))
        }
        #expect(await log.statuses.contains(412), "moto honours If-Match on ranged GETs")
        #expect(!FileManager.default.fileExists(atPath: destination))
        #expect(!FileManager.default.fileExists(atPath: destination + ".part"))
        // The store holds the new version whole, and a fresh download gets exactly it.
        #expect(try await plain.download(bucket: bucket, key: "model.pt", to: destination) == Self.sha256(after))
    }

    @Test("a range whose body comes back short is caught by the byte count, not left as zeros")
    func shortRange() async throws {
        let (server, _, bucket, _) = try await storedObject("short.bin", seed: 3)
        let part: Int64 = 5 * 1024 * 1024
        // The second range is asked for 100 bytes short, so moto really sends a short 206 body
        // (re-signed, since the range is a signed header); the client still expects 5 MiB.
        let transport = HookedTransport(server: server, request: { request in
            guard request.rangeStart == part else { return nil }
            var shortened = request
            shortened.headers = request.headers.map {
                $0.0.lowercased() == "range" ? ($0.0, "bytes=\(part)-\(2 * part - 101)") : $0
            }
            return shortened
        })
        let client = client(server, transport: transport)
        let destination = TestEnvironment.temporaryDirectory("short") + "/short.bin"

        do {
            try await client.download(bucket: bucket, key: "short.bin", to: destination)
            Issue.record("a download with a short range succeeded")
        } catch let error as S3Error {
            guard case .integrity(let message) = error else { throw error }
            #expect(message.contains("had \(part - 100) bytes, not \(part)"))
        }
        #expect(!FileManager.default.fileExists(atPath: destination))
        #expect(!FileManager.default.fileExists(atPath: destination + ".part"))
    }

    @Test("a download whose SHA-256 is not the one the caller expects fails and leaves no file")
    func unexpectedDigest() async throws {
        let (_, client, bucket, data) = try await storedObject("w.pt", seed: 4)
        let destination = TestEnvironment.temporaryDirectory("digest") + "/w.pt"
        let wrong = Self.sha256(Data("something else".utf8))
        await #expect(throws: S3Error.self) {
            try await client.download(bucket: bucket, key: "w.pt", to: destination, sha256: wrong)
        }
        #expect(!FileManager.default.fileExists(atPath: destination))
        #expect(try await client.download(bucket: bucket, key: "w.pt", to: destination, sha256: Self.sha256(data).uppercased()) == Self.sha256(data))
    }
}

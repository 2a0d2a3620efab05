import Foundation
import HTTPSupport
import Testing
import TestSupport

@testable import S3

/// Stores whose ETags are not MD5s (SSE-KMS buckets, several gateways), faked in front of moto.
extension S3ClientTests {
    /// Each ETag moto sends becomes an opaque one (mixed case, no hex) and each opaque ETag a
    /// client sends back (in `If-Match` or a CompleteMultipartUpload body) becomes moto's again,
    /// so the client sees only the opaque ones, as it would against such a store.
    actor OpaqueETags {
        private var opaqueFor: [String: String] = [:]
        private var realFor: [String: String] = [:]
        /// The ETags each UploadPart was answered with, by part number.
        private(set) var partETags: [Int: String] = [:]
        /// The ETags the CompleteMultipartUpload bodies named, in order.
        private(set) var completed: [[String]] = []
        /// Each file body sent (PutObject, UploadPart): where it came from and the payload hash
        /// it was signed with.
        private(set) var fileBodies: [(body: HTTPRequest.Body, signed: String)] = []

        func opaque(_ real: String) -> String {
            if let known = opaqueFor[real] { return known }
            let made = "\"Opaque-KMS-\(opaqueFor.count + 1)-\(UUID().uuidString)\""
            opaqueFor[real] = made
            realFor[made] = real
            return made
        }

        func real(_ opaque: String) -> String? { realFor[opaque] }

        func answered(part: Int, with etag: String) { partETags[part] = etag }

        func complete(_ etags: [String]) { completed.append(etags) }

        func sent(_ body: HTTPRequest.Body, signed: String) { fileBodies.append((body, signed)) }
    }

    static func etags(inXML text: String) -> [String] {
        text.components(separatedBy: "<ETag>").dropFirst().compactMap { $0.components(separatedBy: "</ETag>").first }
    }

    @Test("uploads to a store whose ETags are not MD5s succeed; CompleteMultipartUpload gets the ETags the store gave")
    func opaqueETags() async throws {
        let server = try currentS3Server()
        let etags = OpaqueETags()
        let transport = HookedTransport(
            server: server,
            request: { request in
                switch request.body {
                case .file, .fileRange: await etags.sent(request.body, signed: request.header("x-amz-content-sha256") ?? "")
                default: break
                }
                var changed = request
                var rewritten = false
                if let ifMatch = request.header("if-match"), let real = await etags.real(ifMatch) {
                    changed.headers = request.headers.map { $0.0.lowercased() == "if-match" ? ($0.0, real) : $0 }
                    rewritten = true
                }
                if request.method == "POST", request.url.contains("uploadId="), case .bytes(let body) = request.body {
                    var xml = String(decoding: body, as: UTF8.self)
                    let named = Self.etags(inXML: xml)
                    await etags.complete(named)
                    for opaque in named {
                        guard let real = await etags.real(opaque) else { continue }
                        xml = xml.replacingOccurrences(of: "<ETag>\(opaque)</ETag>", with: "<ETag>\(real)</ETag>")
                    }
                    changed.body = .bytes(Data(xml.utf8))
                    rewritten = true
                }
                return rewritten ? changed : nil
            },
            response: { request, response in
                guard let real = response.header("ETag") else { return response }
                let opaque = await etags.opaque(real)
                if let part = URLComponents(string: request.url)?.queryItems?.first(where: { $0.name == "partNumber" })?.value {
                    await etags.answered(part: Int(part) ?? 0, with: opaque)
                }
                var changed = response
                changed.headers = response.headers.map { $0.0.lowercased() == "etag" ? ($0.0, opaque) : $0 }
                return changed
            })
        let client = client(server, transport: transport)
        let plain = self.client(server)
        let bucket = try await bucket(plain)
        let dir = TestEnvironment.temporaryDirectory("opaque")
        let big = Self.pattern(Self.bigSize, seed: 5)
        let small = Self.pattern(64 * 1024 + 7, seed: 6)
        try big.write(to: URL(fileURLWithPath: dir + "/big.bin"))
        try small.write(to: URL(fileURLWithPath: dir + "/small.bin"))

        let multipart = try await client.upload(file: dir + "/big.bin", bucket: bucket, key: "kms/big.bin")
        #expect(multipart.parts == 4)
        #expect(multipart.size == Int64(big.count))
        #expect(multipart.sha256 == Self.sha256(big))
        #expect(multipart.etag.hasPrefix("Opaque-KMS-"), "the result records the store's ETag: \(multipart.etag)")
        let answered = await etags.partETags
        #expect(answered.count == 4)
        #expect(await etags.completed == [(1...4).map { answered[$0] ?? "none" }])

        let single = try await client.upload(file: dir + "/small.bin", bucket: bucket, key: "kms/small.bin")
        #expect(single.parts == 1)
        #expect(single.etag.hasPrefix("Opaque-KMS-"))

        // Downloaded back through the same store: If-Match carries the opaque ETag.
        #expect(try await client.download(bucket: bucket, key: "kms/big.bin", to: dir + "/big.back", sha256: Self.sha256(big)) == Self.sha256(big))
        #expect(try await client.download(bucket: bucket, key: "kms/small.bin", to: dir + "/small.back") == Self.sha256(small))
        #expect(try await plain.headObject(bucket: bucket, key: "kms/big.bin")?.size == Int64(big.count))
        #expect(try await plain.listMultipartUploads(bucket: bucket).isEmpty)

        // What the uploads now rely on: every body went signed with the SHA-256 of exactly its
        // bytes, which S3 checks (moto does not, so it is checked here).
        let file = try Data(contentsOf: URL(fileURLWithPath: dir + "/big.bin"))
        let bodies = await etags.fileBodies
        #expect(bodies.count == 5)
        for (body, signed) in bodies {
            switch body {
            case .fileRange(let path, let offset, let length) where path.hasSuffix("/big.bin"):
                #expect(signed == Self.sha256(file.subdata(in: Int(offset)..<Int(offset + length))), "part at \(offset)")
            case .file(let path, _) where path.hasSuffix("/small.bin"):
                #expect(signed == Self.sha256(small))
            default:
                Issue.record("an unexpected body: \(body)")
            }
        }
    }
}

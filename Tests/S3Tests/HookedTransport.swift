import Crypto
import Foundation
import HTTPSupport
import TestSupport

@testable import S3

/// The real transport in front of moto, with two hooks to fake what another store or a bad
/// network does on the wire: `request` may replace a request before it goes (it is then signed
/// again, as the client would have signed it, so moto still checks a valid signature), and
/// `response` sees every answer and may replace it. Bodies streamed to files go through the real
/// transport, so what it reports (`bytesWritten`) is what it really wrote.
struct HookedTransport: HTTPTransport {
    typealias RequestHook = @Sendable (HTTPRequest) async throws -> HTTPRequest?
    typealias ResponseHook = @Sendable (HTTPRequest, HTTPResponse) async throws -> HTTPResponse

    let inner = AsyncHTTPClientTransport.shared()
    let signer: SigV4Signer
    let request: RequestHook
    let response: ResponseHook

    init(server: S3TestServer, request: @escaping RequestHook = { _ in nil }, response: @escaping ResponseHook = { $1 }) {
        signer = SigV4Signer(accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey)
        self.request = request
        self.response = response
    }

    func execute(_ original: HTTPRequest, timeout: Duration) async throws -> HTTPResponse {
        let sent = try await prepare(original)
        return try await response(sent, try await inner.execute(sent, timeout: timeout))
    }

    func download(_ original: HTTPRequest, to destination: String, timeout: Duration) async throws -> HTTPResponse {
        let sent = try await prepare(original)
        return try await response(sent, try await inner.download(sent, to: destination, timeout: timeout))
    }

    func download(_ original: HTTPRequest, intoFile path: String, at offset: Int64, timeout: Duration) async throws -> HTTPResponse {
        let sent = try await prepare(original)
        return try await response(sent, try await inner.download(sent, intoFile: path, at: offset, timeout: timeout))
    }

    func prepare(_ original: HTTPRequest) async throws -> HTTPRequest {
        guard let changed = try await request(original) else { return original }
        return resign(changed)
    }

    /// Signs a changed request afresh: the path, query and headers as they now are, the payload
    /// hash of a new in-memory body.
    func resign(_ request: HTTPRequest) -> HTTPRequest {
        let components = URLComponents(string: request.url)!
        let host = components.port.map { "\(components.host!):\($0)" } ?? components.host!
        let query = (components.percentEncodedQuery ?? "").split(separator: "&").map { pair -> (String, String) in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (
                String(parts[0]).removingPercentEncoding ?? "",
                parts.count > 1 ? String(parts[1]).removingPercentEncoding ?? "" : ""
            )
        }
        let headers = request.headers.filter {
            !["authorization", "x-amz-date", "x-amz-content-sha256"].contains($0.0.lowercased())
        }
        let payloadHash: String
        switch request.body {
        case .none: payloadHash = SigV4Signer.emptyPayloadHash
        case .bytes(let data): payloadHash = SigV4Signer.hex(SHA256.hash(data: data))
        case .file, .fileRange: payloadHash = request.header("x-amz-content-sha256") ?? SigV4Signer.unsignedPayload
        }
        let signed = signer.sign(
            method: request.method, host: host, path: components.percentEncodedPath, query: query, headers: headers,
            payloadHash: payloadHash, date: Date())
        return HTTPRequest(method: request.method, url: request.url, headers: signed.headers, body: request.body)
    }
}

/// What a test's hooks saw, and a gate some requests wait at.
actor WireLog {
    private(set) var requests: [HTTPRequest] = []
    private(set) var statuses: [Int] = []
    private var isOpen = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func record(_ request: HTTPRequest) { requests.append(request) }
    func record(status: Int) { statuses.append(status) }

    /// Returns once ``open()`` was called.
    func waitUntilOpen() async {
        if isOpen { return }
        await withCheckedContinuation { waiting.append($0) }
    }

    func open() {
        isOpen = true
        for continuation in waiting { continuation.resume() }
        waiting = []
    }
}

extension HTTPRequest {
    /// The first byte of a `range: bytes=A-B` header.
    var rangeStart: Int64? {
        guard let range = header("range"), range.hasPrefix("bytes=") else { return nil }
        return Int64(range.dropFirst("bytes=".count).prefix { $0 != "-" })
    }
}

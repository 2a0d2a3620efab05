import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOPosix
import NIOSSL
import PathSupport

/// The live ``HTTPTransport``: async-http-client with a kept-alive connection pool.
///
/// Clients live for the whole process (one verifying TLS, one not), so connections are reused
/// across every ``MLflowClient`` and nothing needs shutting down.
public struct AsyncHTTPClientTransport: HTTPTransport {
    private let client: HTTPClient

    /// The shared transport; `insecureTLS` skips certificate verification
    /// (`MLFLOW_TRACKING_INSECURE_TLS`).
    public static func shared(insecureTLS: Bool = false) -> AsyncHTTPClientTransport {
        AsyncHTTPClientTransport(client: insecureTLS ? insecureClient : verifyingClient)
    }

    init(client: HTTPClient) {
        self.client = client
    }

    public func execute(_ request: HTTPRequest, timeout: Duration) async throws -> HTTPResponse {
        try await inMemory(try await send(request, timeout: timeout), timeout: timeout)
    }

    /// The whole response with its body in memory.
    private func inMemory(_ response: HTTPClientResponse, timeout: Duration) async throws -> HTTPResponse {
        var buffer = try await collect(response.body, deadline: timeout)
        let data = buffer.readData(length: buffer.readableBytes) ?? Data()
        return HTTPResponse(status: Int(response.status.code), headers: Array(response.headers), body: data)
    }

    public func download(_ request: HTTPRequest, to destination: String, timeout: Duration) async throws -> HTTPResponse {
        let response = try await send(request, timeout: timeout)
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else { return try await inMemory(response, timeout: timeout) }
        let partial = destination + ".part"
        let directory = FilePaths.parent(destination)
        if !directory.isEmpty {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        guard FileManager.default.createFile(atPath: partial, contents: nil),
            let handle = FileHandle(forWritingAtPath: partial)
        else {
            throw TransportError(kind: .file, detail: "cannot create \(partial)")
        }
        var written: Int64 = 0
        do {
            for try await chunk in response.body {
                try handle.write(contentsOf: chunk.readableBytesView)
                written += Int64(chunk.readableBytes)
            }
            try handle.close()
            if FileManager.default.fileExists(atPath: destination) {
                try FileManager.default.removeItem(atPath: destination)
            }
            try FileManager.default.moveItem(atPath: partial, toPath: destination)
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: partial)
            throw Self.translate(error)
        }
        return HTTPResponse(status: status, headers: Array(response.headers), bytesWritten: written)
    }

    public func download(
        _ request: HTTPRequest, intoFile path: String, at offset: Int64, timeout: Duration
    ) async throws -> HTTPResponse {
        let response = try await send(request, timeout: timeout)
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else { return try await inMemory(response, timeout: timeout) }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw TransportError(kind: .file, detail: "cannot open \(path) for writing")
        }
        defer { try? handle.close() }
        var written: Int64 = 0
        do {
            try handle.seek(toOffset: UInt64(offset))
            for try await chunk in response.body {
                try handle.write(contentsOf: chunk.readableBytesView)
                written += Int64(chunk.readableBytes)
            }
        } catch {
            throw Self.translate(error)
        }
        return HTTPResponse(status: status, headers: Array(response.headers), bytesWritten: written)
    }

    private func send(_ request: HTTPRequest, timeout: Duration) async throws -> HTTPClientResponse {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers {
            outgoing.headers.add(name: name, value: value)
        }
        switch request.body {
        case .none:
            break
        case .bytes(let data):
            outgoing.body = .bytes(ByteBuffer(data: data))
        case .file(let path, let size):
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw TransportError(kind: .file, detail: "cannot open \(path) for reading")
            }
            outgoing.body = .stream(FileChunks(handle: handle, offset: 0, remaining: size), length: .known(size))
        case .fileRange(let path, let offset, let length):
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw TransportError(kind: .file, detail: "cannot open \(path) for reading")
            }
            outgoing.body = .stream(FileChunks(handle: handle, offset: offset, remaining: length), length: .known(length))
        }
        do {
            return try await client.execute(outgoing, timeout: .nanoseconds(Int64(timeout.nanoseconds)))
        } catch {
            throw Self.translate(error)
        }
    }

    private func collect(_ body: HTTPClientResponse.Body, deadline: Duration) async throws -> ByteBuffer {
        do {
            return try await body.collect(upTo: 256 * 1024 * 1024)
        } catch {
            throw Self.translate(error)
        }
    }

    static func translate(_ error: any Error) -> any Error {
        if error is CancellationError || error is TransportError { return error }
        if let ssl = error as? NIOSSLError {
            return TransportError(kind: .tls, detail: "TLS failed: \(ssl)")
        }
        let text = String(describing: error)
        if text.contains("SSL") || text.contains("handshake") || text.contains("certificate") {
            return TransportError(kind: .tls, detail: "TLS failed: \(text)")
        }
        return TransportError(kind: .connection, detail: friendly(text))
    }

    /// A short reason in place of NIO's error dumps.
    static func friendly(_ text: String) -> String {
        let lower = text.lowercased()
        if lower.contains("connection refused") { return "connection refused" }
        if lower.contains("connecttimeout") || lower.contains("connect timeout") { return "connection timed out" }
        if lower.contains("deadlineexceeded") || lower.contains("readtimeout") { return "no answer in time" }
        if lower.contains("remoteconnectionclosed") || lower.contains("connection reset") { return "the server closed the connection" }
        if lower.contains("name resolution") || lower.contains("nodename") || lower.contains("lookup") { return "the host name does not resolve" }
        return text
    }
}

/// `remaining` bytes of a file from `offset`, as an async sequence of 256 KiB buffers: read with
/// `pread` straight into each `ByteBuffer`, not into a `Data` that is then copied (one allocation
/// and one copy per chunk instead of two). The handle is closed at the end.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let handle: FileHandle
    let offset: Int64
    let remaining: Int64

    struct AsyncIterator: AsyncIteratorProtocol {
        let handle: FileHandle
        var offset: Int64
        var remaining: Int64
        let allocator = ByteBufferAllocator()

        mutating func next() async throws -> ByteBuffer? {
            let want = Int(Swift.min(Int64(256 * 1024), remaining))
            guard want > 0 else {
                try? handle.close()
                return nil
            }
            var buffer = allocator.buffer(capacity: want)
            let descriptor = handle.fileDescriptor
            let position = offset
            let got = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { target in
                while true {
                    let count = pread(descriptor, target.baseAddress, want, off_t(position))
                    if count >= 0 { return count }
                    if errno != EINTR {
                        throw TransportError(kind: .file, detail: "cannot read a file to send: \(String(cString: strerror(errno)))")
                    }
                }
            }
            // A file that shrank ends the body early; the client then fails on the length.
            guard got > 0 else {
                try? handle.close()
                return nil
            }
            offset += Int64(got)
            remaining -= Int64(got)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: handle, offset: offset, remaining: remaining) }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

private func makeClient(verify: Bool) -> HTTPClient {
    var tls = TLSConfiguration.makeClientConfiguration()
    if !verify { tls.certificateVerification = .none }
    var configuration = HTTPClient.Configuration(
        tlsConfiguration: tls,
        timeout: .init(connect: .seconds(3), read: .seconds(120)),
        decompression: .disabled
    )
    // Parallel multipart parts and concurrent registry writes each want a connection; waiting
    // for one counts against the connect timeout.
    // Idle connections are dropped before servers drop them (uvicorn, MLflow's server, closes
    // after 5 s), so a request never goes out on a connection the server is closing.
    configuration.connectionPool = .init(idleTimeout: .seconds(4), concurrentHTTP1ConnectionsPerHostSoftLimit: 32)
    configuration.httpVersion = .http1Only
    return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
}

private let verifyingClient = makeClient(verify: true)
private let insecureClient = makeClient(verify: false)

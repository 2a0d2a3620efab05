import Foundation

/// An HTTP request as the MLflow client describes it to a transport.
public struct HTTPRequest: Sendable {
    /// The body of a request: nothing, bytes in memory, or a file streamed from disk.
    public enum Body: Sendable {
        case none
        case bytes(Data)
        /// A file sent as it is read, so memory stays bounded whatever its size.
        case file(path: String, size: Int64)
        /// `length` bytes of a file from `offset`, sent as they are read (a multipart part).
        case fileRange(path: String, offset: Int64, length: Int64)
    }

    public var method: String
    public var url: String
    public var headers: [(String, String)]
    public var body: Body

    public init(method: String, url: String, headers: [(String, String)] = [], body: Body = .none) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    /// The value of the first header with this name, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
    }
}

/// An HTTP response: status, headers and the body (empty when it was streamed to a file).
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: Data
    /// How many body bytes were written to the file when a 2xx body was streamed to one (the two
    /// `download` methods); nil when the body is in memory. A caller that knows how long the body
    /// must be compares it, so a short body is caught even where the file was sized in advance.
    public var bytesWritten: Int64?

    public init(status: Int, headers: [(String, String)] = [], body: Data = Data(), bytesWritten: Int64? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.bytesWritten = bytesWritten
    }

    /// The value of the first header with this name, compared case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
    }
}

/// The seam between the MLflow client and the network.
///
/// The live implementation is ``AsyncHTTPClientTransport``; tests use the same type against a
/// local server, or a recording double.
public protocol HTTPTransport: Sendable {
    /// Sends one request and returns the whole response.
    func execute(_ request: HTTPRequest, timeout: Duration) async throws -> HTTPResponse

    /// Sends one request; a 2xx body is streamed into `destination` (written to a temporary
    /// file beside it and renamed at the end) and its length reported in
    /// ``HTTPResponse/bytesWritten``; any other body is returned in memory.
    func download(_ request: HTTPRequest, to destination: String, timeout: Duration) async throws -> HTTPResponse

    /// Sends one request; a 2xx body is written into the existing file `path` from `offset`
    /// (a ranged part of a parallel download) and its length reported in
    /// ``HTTPResponse/bytesWritten``; any other body is returned in memory.
    func download(_ request: HTTPRequest, intoFile path: String, at offset: Int64, timeout: Duration) async throws -> HTTPResponse
}

/// A failure below HTTP: the request never got a response.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// Connection refused, reset or timed out: worth retrying.
        case connection
        /// The TLS handshake failed: retrying will not help.
        case tls
        /// A local file could not be read or written.
        case file
    }

    public var kind: Kind
    public var detail: String

    public init(kind: Kind, detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { detail }
}

import Crypto
import Foundation
import HTTPSupport

/// An object's size and ETag.
public struct S3ObjectInfo: Sendable, Equatable {
    public var key: String
    public var size: Int64
    /// Without quotes.
    public var etag: String
}

/// What an upload stored, verified.
public struct S3UploadResult: Sendable, Equatable {
    public var size: Int64
    public var etag: String
    /// SHA-256 of the file, computed while reading it.
    public var sha256: String
    public var parts: Int
}

/// A client for S3-compatible stores (SeaweedFS, MinIO, AWS): path-style, SigV4 header auth
/// with signed payloads, streamed uploads and downloads with bounded memory, parallel multipart.
///
/// Knows nothing of MLflow.
public struct S3Client: Sendable {
    public let configuration: S3Configuration
    let transport: any HTTPTransport
    let clock: any RetryClock
    let now: @Sendable () -> Date
    let signer: SigV4Signer

    public init(
        configuration: S3Configuration, transport: (any HTTPTransport)? = nil, clock: any RetryClock = SystemRetryClock(),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.configuration = configuration
        self.transport = transport ?? AsyncHTTPClientTransport.shared(insecureTLS: configuration.insecureTLS)
        self.clock = clock
        self.now = now
        self.signer = SigV4Signer(
            accessKeyId: configuration.accessKeyId, secretAccessKey: configuration.secretAccessKey, region: configuration.region)
    }

    // MARK: - Requests

    struct Call {
        var operation: String
        var method: String
        var bucket: String
        var key: String?
        var query: [(String, String)] = []
        var headers: [(String, String)] = []
        var body: HTTPRequest.Body = .none
        var payloadHash = SigV4Signer.emptyPayloadHash
    }

    enum Destination {
        case memory
        case file(String)
        case fileAt(String, Int64)
    }

    /// Signs (afresh for each attempt) and sends, retrying what is worth retrying.
    func send(_ call: Call, into destination: Destination = .memory) async throws -> HTTPResponse {
        let started = clock.now
        var attempt = 0
        let path = SigV4Signer.encodePath(bucket: call.bucket, key: call.key)
        let query = call.query.map { "\(SigV4Signer.uriEncode($0.0))=\(SigV4Signer.uriEncode($0.1))" }.joined(separator: "&")
        let url = configuration.endpoint + path + (query.isEmpty ? "" : "?" + query)
        while true {
            attempt += 1
            try Task.checkCancellation()
            let signed = signer.sign(
                method: call.method, host: configuration.host, path: path, query: call.query, headers: call.headers,
                payloadHash: call.payloadHash, date: now())
            let request = HTTPRequest(method: call.method, url: url, headers: signed.headers, body: call.body)
            let failure: S3Error
            var retryable: Bool
            do {
                let response: HTTPResponse
                switch destination {
                case .memory: response = try await transport.execute(request, timeout: configuration.requestTimeout)
                case .file(let path): response = try await transport.download(request, to: path, timeout: configuration.requestTimeout)
                case .fileAt(let path, let offset):
                    response = try await transport.download(request, intoFile: path, at: offset, timeout: configuration.requestTimeout)
                }
                if (200..<300).contains(response.status) { return response }
                (failure, retryable) = classify(response, call)
            } catch let error as TransportError {
                if error.kind == .file { throw S3Error.file(path: call.key ?? call.bucket, detail: error.detail) }
                failure = .unreachable(endpoint: configuration.endpoint, detail: error.detail)
                retryable = error.kind == .connection
            }
            let wait = configuration.retry.backoff(afterAttempt: attempt, retryAfter: nil, random: Double.random(in: 0..<1))
            guard retryable, attempt < configuration.retry.maxAttempts, clock.now - started + wait <= configuration.retry.budget else {
                throw failure
            }
            try await clock.sleep(for: wait)
        }
    }

    func classify(_ response: HTTPResponse, _ call: Call) -> (S3Error, Bool) {
        let xml = String(decoding: response.body, as: UTF8.self)
        var code = S3XML.value("Code", in: xml) ?? Self.defaultCode(response.status)
        let message = S3XML.value("Message", in: xml) ?? "HTTP \(response.status)"
        // A HEAD has no error body: a 403 whose Date is over 15 minutes off is the clock.
        if response.status == 403, code == "Forbidden", let date = response.header("Date").flatMap(Self.parseHTTPDate),
            abs(now().timeIntervalSince(date)) > 900
        {
            code = "RequestTimeTooSkewed"
        }
        switch code {
        case "RequestTimeTooSkewed":
            let server = S3XML.value("ServerTime", in: xml).flatMap(Self.parseISO) ?? response.header("Date").flatMap(Self.parseHTTPDate)
            let skew = server.map { now().timeIntervalSince($0) } ?? 0
            return (.clockSkew(endpoint: configuration.endpoint, skewSeconds: skew), false)
        case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidClientTokenId", "Forbidden":
            return (
                .credentials(
                    operation: call.operation, code: code, endpoint: configuration.endpoint, bucket: call.bucket,
                    accessKeyId: configuration.accessKeyId), false
            )
        default:
            let retryable =
                RetryPolicy.isRetryable(status: response.status)
                || ["RequestTimeout", "SlowDown", "InternalError", "ServiceUnavailable", "Throttling"].contains(code)
            return (
                .service(
                    operation: call.operation, status: response.status, code: code, message: message,
                    endpoint: configuration.endpoint, bucket: call.bucket, key: call.key), retryable
            )
        }
    }

    static func defaultCode(_ status: Int) -> String {
        switch status {
        case 403: "Forbidden"
        case 404: "NotFound"
        default: "HTTP\(status)"
        }
    }

    static func parseISO(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text)
    }

    static func parseHTTPDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }

    // MARK: - Buckets and objects

    /// Checks the bucket exists and the credentials may use it, with one signed request.
    public func headBucket(_ bucket: String) async throws {
        _ = try await send(Call(operation: "HeadBucket", method: "HEAD", bucket: bucket))
    }

    /// The buckets these credentials can see (one signed request: a credentials check).
    public func listBuckets() async throws -> [String] {
        let response = try await send(Call(operation: "ListBuckets", method: "GET", bucket: ""))
        return S3XML.blocks("Bucket", in: String(decoding: response.body, as: UTF8.self)).compactMap { S3XML.value("Name", in: $0) }
    }

    /// Creates a bucket (for tests and set-up).
    public func createBucket(_ bucket: String) async throws {
        _ = try await send(Call(operation: "CreateBucket", method: "PUT", bucket: bucket))
    }

    /// An object's size and ETag, or nil when it does not exist.
    public func headObject(bucket: String, key: String) async throws -> S3ObjectInfo? {
        guard let object = try await head(bucket: bucket, key: key) else { return nil }
        return S3ObjectInfo(key: key, size: object.size, etag: Self.unquote(object.entityTag ?? ""))
    }

    /// HeadObject: the size and the ETag as sent (for `If-Match`), or nil when there is no object.
    func head(bucket: String, key: String) async throws -> ObjectVersion? {
        do {
            let response = try await send(Call(operation: "HeadObject", method: "HEAD", bucket: bucket, key: key))
            return ObjectVersion(
                size: Int64(response.header("Content-Length") ?? "") ?? 0, entityTag: Self.entityTag(response.header("ETag")))
        } catch let error as S3Error {
            if case .service(_, 404, _, _, _, _, _) = error { return nil }
            throw error
        }
    }

    /// Deletes an object (absent objects are fine, as in S3).
    public func deleteObject(bucket: String, key: String) async throws {
        _ = try await send(Call(operation: "DeleteObject", method: "DELETE", bucket: bucket, key: key))
    }

    /// Every object under a prefix, following ListObjectsV2's pages.
    public func listObjects(bucket: String, prefix: String = "", pageSize: Int = 1000) async throws -> [S3ObjectInfo] {
        var out: [S3ObjectInfo] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(pageSize)), ("encoding-type", "url")]
            if let token { query.append(("continuation-token", token)) }
            let response = try await send(Call(operation: "ListObjectsV2", method: "GET", bucket: bucket, query: query))
            let xml = String(decoding: response.body, as: UTF8.self)
            for block in S3XML.blocks("Contents", in: xml) {
                let raw = S3XML.value("Key", in: block) ?? ""
                let key = raw.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? raw
                out.append(
                    S3ObjectInfo(
                        key: key, size: Int64(S3XML.value("Size", in: block) ?? "") ?? 0,
                        etag: Self.unquote(S3XML.value("ETag", in: block) ?? "")))
            }
            token = S3XML.value("IsTruncated", in: xml) == "true" ? S3XML.value("NextContinuationToken", in: xml) : nil
        } while token != nil
        return out
    }

    /// Stores bytes from memory with one signed PutObject.
    @discardableResult
    public func putObject(bucket: String, key: String, data: Data) async throws -> S3ObjectInfo {
        let response = try await send(
            Call(
                operation: "PutObject", method: "PUT", bucket: bucket, key: key, headers: [("content-type", "application/octet-stream")],
                body: .bytes(data), payloadHash: SigV4Signer.hex(SHA256.hash(data: data))))
        // The signed payload SHA-256 is the check; the ETag need not be an MD5 (SSE-KMS, gateways).
        return S3ObjectInfo(key: key, size: Int64(data.count), etag: Self.unquote(response.header("ETag") ?? ""))
    }

    /// An ETag header as an entity tag to send back in `If-Match`: as the store sent it, quoted
    /// if it was not (some gateways drop the quotes); nil when there is none.
    static func entityTag(_ header: String?) -> String? {
        guard let value = header?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value.hasPrefix("\"") || value.hasPrefix("W/\"") ? value : "\"\(value)\""
    }

    /// An ETag without its quotes, otherwise as the store sent it (ETags are opaque).
    static func unquote(_ etag: String) -> String {
        etag.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }
}

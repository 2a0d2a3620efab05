import Foundation

/// An async client for the MLflow REST API: tracking, registry, aliases and the artifact proxy.
///
/// It knows nothing of YOLO. Every call retries as ``RetryPolicy`` says and throws
/// ``MLflowError`` with the HTTP status and MLflow's `error_code`.
///
/// ```swift
/// let client = try MLflowClient(trackingURI: "http://127.0.0.1:5000")
/// let experiment = try await client.getOrCreateExperiment(named: "ppe")
/// ```
public struct MLflowClient: Sendable {
    /// Where the server is, with credentials taken out of the URI.
    public let trackingURI: TrackingURI
    public let auth: MLflowAuth
    public var retry: RetryPolicy
    /// The limit on one attempt of one request.
    public var requestTimeout: Duration
    /// The limits the log-batch planner keeps to.
    public var batchLimits: LogBatchLimits
    let transport: any HTTPTransport
    let clock: any RetryClock
    let random: @Sendable () -> Double

    /// Creates a client.
    ///
    /// - Parameters:
    ///   - trackingURI: `http(s)://host:port[/prefix]`; a `user:pass@` inside it becomes Basic auth
    ///     unless `auth` says otherwise.
    ///   - auth: explicit credentials; see ``MLflowAuth/resolve(username:password:token:uriCredentials:)``.
    ///   - insecureTLS: skip certificate verification (`MLFLOW_TRACKING_INSECURE_TLS`).
    ///   - transport: the HTTP seam; the shared async-http-client pool by default.
    ///   - clock: what retries sleep on.
    public init(
        trackingURI: String,
        auth: MLflowAuth? = nil,
        insecureTLS: Bool = false,
        retry: RetryPolicy = .interactive,
        requestTimeout: Duration = .seconds(30),
        transport: (any HTTPTransport)? = nil,
        clock: any RetryClock = SystemRetryClock(),
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) throws {
        let uri = try TrackingURI(trackingURI)
        self.trackingURI = uri
        self.auth =
            auth ?? MLflowAuth.resolve(
                username: nil, password: nil, token: nil,
                uriCredentials: uri.credentials.map { ($0.username, $0.password) })
        self.retry = retry
        self.requestTimeout = requestTimeout
        self.batchLimits = LogBatchLimits()
        self.transport = transport ?? AsyncHTTPClientTransport.shared(insecureTLS: insecureTLS)
        self.clock = clock
        self.random = random
    }

    /// A copy of this client with another retry policy.
    public func with(retry: RetryPolicy) -> MLflowClient {
        var copy = self
        copy.retry = retry
        return copy
    }

    // MARK: - Requests

    /// Sends a request built by `make`, retrying as the policy says, and returns the
    /// successful response.
    func send(
        endpoint: String, download destination: String? = nil, _ make: () -> HTTPRequest
    ) async throws -> HTTPResponse {
        let started = clock.now
        var attempt = 0
        var conflicts = 0
        while true {
            attempt += 1
            try Task.checkCancellation()
            var request = make()
            request.headers.append(("User-Agent", "guardianflow-mlflow/0.1"))
            if let header = auth.headerValue { request.headers.append(("Authorization", header)) }
            let outcome: Result<HTTPResponse, any Error>
            do {
                if let destination {
                    outcome = .success(try await transport.download(request, to: destination, timeout: requestTimeout))
                } else {
                    outcome = .success(try await transport.execute(request, timeout: requestTimeout))
                }
            } catch {
                outcome = .failure(error)
            }
            let retryAfter: Duration?
            let failure: MLflowError
            switch outcome {
            case .success(let response) where (200..<300).contains(response.status):
                return response
            case .success(let response):
                failure = classify(response, endpoint: endpoint)
                if Self.isWriteConflict(failure) {
                    // The server is alive and the write is idempotent: try again soon, whatever
                    // the budget, a bounded number of times.
                    conflicts += 1
                    guard conflicts <= Self.maxConflictRetries else { throw failure }
                    attempt -= 1
                    try await clock.sleep(for: .milliseconds(Int64(20 + 180 * random()) * Int64(min(conflicts, 4))))
                    continue
                }
                guard RetryPolicy.isRetryable(status: response.status) else { throw failure }
                retryAfter = RetryPolicy.parseRetryAfter(response.header("Retry-After"))
            case .failure(let error):
                if error is CancellationError { throw error }
                guard let transportError = error as? TransportError else { throw error }
                switch transportError.kind {
                case .tls: throw MLflowError.tls(uri: TrackingURI.redact(trackingURI.baseURL), detail: transportError.detail)
                case .file: throw MLflowError.file(path: endpoint, detail: transportError.detail)
                case .connection:
                    failure = .unreachable(
                        uri: TrackingURI.redact(trackingURI.baseURL), detail: transportError.detail, attempts: attempt)
                    retryAfter = nil
                }
            }
            let wait = retry.backoff(afterAttempt: attempt, retryAfter: retryAfter, random: random())
            let elapsed = clock.now - started
            // A second attempt after a lost connection is always allowed (unless retries are off):
            // one slow first attempt, or a connection the server closed as it was reused, must
            // not end the call.
            let lostConnection: Bool
            if case .unreachable = failure { lostConnection = true } else { lostConnection = false }
            let withinBudget = elapsed + wait <= retry.budget || (attempt == 1 && lostConnection && retry.budget > .zero)
            guard attempt < retry.maxAttempts, withinBudget else {
                throw failure
            }
            try await clock.sleep(for: wait)
        }
    }

    /// Two writers upserting the same tag or alias at once: the SQL store answers 400 with the
    /// database's unique-constraint error. The write is idempotent, so trying again succeeds.
    static func isWriteConflict(_ error: MLflowError) -> Bool {
        guard case .api(_, let status, let code, let message) = error, status == 400 || status == 500,
            code == "BAD_REQUEST" || code == "INTERNAL_ERROR"
        else {
            return false
        }
        return message.contains("IntegrityError") || message.contains("UNIQUE constraint") || message.contains("duplicate key")
            || message.contains("StaleDataError") || message.contains("were matched") || message.contains("database is locked")
    }

    /// How many times a write that lost a race is tried again.
    static let maxConflictRetries = 12

    private func classify(_ response: HTTPResponse, endpoint: String) -> MLflowError {
        let parsed = try? JSONDecoder().decode(ErrorBody.self, from: response.body)
        let message =
            parsed?.message
            ?? String(decoding: response.body.prefix(300), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if response.status == 401 || response.status == 403 {
            return .authenticationRefused(
                uri: TrackingURI.redact(trackingURI.baseURL), status: response.status, message: message)
        }
        if parsed == nil && response.status >= 500 || parsed == nil && response.status == 404 && !endpoint.contains("artifacts") {
            if response.status >= 500 {
                return .api(endpoint: endpoint, status: response.status, errorCode: nil, message: message.isEmpty ? "server error" : message)
            }
            return .invalidResponse(endpoint: endpoint, status: response.status, detail: message.isEmpty ? "no MLflow error body" : message)
        }
        return .api(endpoint: endpoint, status: response.status, errorCode: parsed?.errorCode, message: message)
    }

    struct ErrorBody: Decodable {
        var errorCode: String?
        var message: String?
        enum CodingKeys: String, CodingKey { case errorCode = "error_code", message }
    }

    // MARK: - JSON helpers

    func url(_ path: String, query: [(String, String?)] = []) -> String {
        var components = URLComponents()
        let items = query.compactMap { name, value in value.map { URLQueryItem(name: name, value: $0) } }
        components.queryItems = items.isEmpty ? nil : items
        // `+` is legal in a query but servers read it as a space: encode it.
        let encodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        return trackingURI.baseURL + path + (encodedQuery.map { "?" + $0 } ?? "")
    }

    /// GET `api/2.0/mlflow/<path>` and decode the answer.
    func get<Response: Decodable>(
        _ path: String, query: [(String, String?)] = [], as type: Response.Type = Response.self
    ) async throws -> Response {
        let endpoint = "GET \(path)"
        let response = try await send(endpoint: endpoint) {
            HTTPRequest(method: "GET", url: url("/api/2.0/mlflow/" + path, query: query))
        }
        return try decode(Response.self, from: response, endpoint: endpoint)
    }

    /// POST, PATCH or DELETE a JSON body to `api/2.0/mlflow/<path>` and decode the answer.
    @discardableResult
    func call<Response: Decodable>(
        _ method: String, _ path: String, body: [String: JSONValue], as type: Response.Type = Response.self
    ) async throws -> Response {
        let endpoint = "\(method) \(path)"
        let data = try JSONValue.object(body).encoded()
        let response = try await send(endpoint: endpoint) {
            HTTPRequest(
                method: method, url: url("/api/2.0/mlflow/" + path),
                headers: [("Content-Type", "application/json")], body: .bytes(data))
        }
        return try decode(Response.self, from: response, endpoint: endpoint)
    }

    func decode<Response: Decodable>(_ type: Response.Type, from response: HTTPResponse, endpoint: String) throws -> Response {
        if Response.self == Empty.self { return Empty() as! Response }
        do {
            return try JSONDecoder().decode(Response.self, from: response.body.isEmpty ? Data("{}".utf8) : response.body)
        } catch {
            let preview = String(decoding: response.body.prefix(200), as: UTF8.self)
            throw MLflowError.invalidResponse(
                endpoint: endpoint, status: response.status, detail: "cannot decode \(Response.self) from '\(preview)'")
        }
    }

    struct Empty: Decodable {}

    // MARK: - Probes

    /// `GET /health`: whether the server answers `OK`.
    public func health() async throws -> Bool {
        let response = try await send(endpoint: "GET /health") {
            HTTPRequest(method: "GET", url: url("/health"))
        }
        return String(decoding: response.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == "OK"
    }

    /// `GET /version`: the server's MLflow version, such as `3.17.2`.
    public func serverVersion() async throws -> String {
        let response = try await send(endpoint: "GET /version") {
            HTTPRequest(method: "GET", url: url("/version"))
        }
        return String(decoding: response.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

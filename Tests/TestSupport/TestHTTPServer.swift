import Foundation
import MLflow
import NIOCore
import NIOHTTP1
import NIOPosix

/// A request the test server received.
public struct RecordedRequest: Sendable {
    public var method: String
    public var uri: String
    public var headers: [(String, String)]
    public var body: Data

    public func header(_ name: String) -> String? {
        headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
    }

    /// The path without the query.
    public var path: String { String(uri.split(separator: "?", maxSplits: 1).first ?? "") }

    /// The body parsed as a JSON object.
    public var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:]
    }
}

/// What the test server answers.
public enum TestResponse: Sendable {
    case reply(status: Int, headers: [(String, String)] = [], body: Data = Data())
    /// Closes the connection without answering.
    case close
    /// Waits, then answers.
    case delayed(Duration, status: Int, body: Data)

    public static func json(_ text: String, status: Int = 200) -> TestResponse {
        .reply(status: status, headers: [("Content-Type", "application/json")], body: Data(text.utf8))
    }
}

/// A real HTTP/1.1 server on a free loopback port that records every request and answers
/// with whatever the test's handler says. Wire-level tests of the MLflow client run against it.
public final class TestHTTPServer: @unchecked Sendable {
    public let port: Int
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    private let state: State

    final class State: @unchecked Sendable {
        let lock = NSLock()
        var requests: [RecordedRequest] = []
        var connections = 0
        let handler: @Sendable (RecordedRequest) -> TestResponse
        init(handler: @escaping @Sendable (RecordedRequest) -> TestResponse) { self.handler = handler }
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    public var requests: [RecordedRequest] {
        state.lock.lock()
        defer { state.lock.unlock() }
        return state.requests
    }

    /// How many TCP connections clients opened (keep-alive shows as 1).
    public var connectionCount: Int {
        state.lock.lock()
        defer { state.lock.unlock() }
        return state.connections
    }

    public init(handler: @escaping @Sendable (RecordedRequest) -> TestResponse) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let state = State(handler: handler)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                state.lock.lock()
                state.connections += 1
                state.lock.unlock()
                return channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(RecordingHandler(state: state))
                }
            }
        self.channel = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        self.port = channel.localAddress?.port ?? 0
        self.group = group
        self.state = state
    }

    /// A client for this server with a manual clock, so retries take no real time.
    public func client(
        auth: MLflowAuth? = nil, retry: RetryPolicy = .interactive, clock: ManualRetryClock = ManualRetryClock()
    ) throws -> MLflowClient {
        try MLflowClient(trackingURI: url, auth: auth, retry: retry, clock: clock, random: { 0.5 })
    }

    public func shutdown() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }

    final class RecordingHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let state: State
        var head: HTTPRequestHead?
        var body = Data()

        init(state: State) { self.state = state }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                body = Data()
            case .body(var buffer):
                body.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
            case .end:
                guard let head else { return }
                let request = RecordedRequest(
                    method: head.method.rawValue, uri: head.uri, headers: head.headers.map { ($0.name, $0.value) }, body: body)
                state.lock.lock()
                state.requests.append(request)
                state.lock.unlock()
                let response = state.handler(request)
                let keepAlive = head.isKeepAlive
                switch response {
                case .close:
                    context.close(promise: nil)
                case .reply(let status, let headers, let body):
                    write(context: context, status: status, headers: headers, body: body, keepAlive: keepAlive)
                case .delayed(let delay, let status, let body):
                    let loop = context.eventLoop
                    let ctx = NIOLoopBound(context, eventLoop: loop)
                    loop.scheduleTask(in: .nanoseconds(Int64(delay.components.seconds) * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000)) {
                        self.write(context: ctx.value, status: status, headers: [], body: body, keepAlive: keepAlive)
                    }
                }
            }
        }

        func write(context: ChannelHandlerContext, status: Int, headers: [(String, String)], body: Data, keepAlive: Bool) {
            var httpHeaders = HTTPHeaders(headers)
            httpHeaders.replaceOrAdd(name: "Content-Length", value: String(body.count))
            if !keepAlive { httpHeaders.replaceOrAdd(name: "Connection", value: "close") }
            let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: httpHeaders)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            var buffer = context.channel.allocator.buffer(capacity: body.count)
            buffer.writeBytes(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { context.close(promise: nil) }
            }
        }
    }
}

/// A ``RetryClock`` that records each requested sleep and advances its time by it at once.
public final class ManualRetryClock: RetryClock, @unchecked Sendable {
    private let lock = NSLock()
    private var elapsed = Duration.zero
    private var recorded: [Duration] = []

    public init() {}

    public var now: Duration {
        lock.lock()
        defer { lock.unlock() }
        return elapsed
    }

    public var sleeps: [Duration] {
        lock.lock()
        defer { lock.unlock() }
        return recorded
    }

    public func sleep(for duration: Duration) async throws {
        lock.withLock {
            recorded.append(duration)
            elapsed += duration
        }
    }

    /// Moves time on without a sleep (a slow request).
    public func advance(by duration: Duration) {
        lock.lock()
        elapsed += duration
        lock.unlock()
    }
}

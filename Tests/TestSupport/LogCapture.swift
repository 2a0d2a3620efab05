import Foundation
import Logging

/// Collects what a component logs, for a test to check: hand ``logger`` to the component.
public final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [(level: Logger.Level, message: String)] = []

    public init() {}

    /// A logger that records every message, from trace up, into this capture.
    public var logger: Logger {
        Logger(label: "guardianflow.test") { _ in Handler(capture: self) }
    }

    /// Every message so far, oldest first.
    public var messages: [String] { lock.withLock { entries.map(\.message) } }

    /// Whether any message so far contains `text`.
    public func contains(_ text: String) -> Bool { messages.contains { $0.contains(text) } }

    /// The level of the first message that contains `text`.
    public func level(of text: String) -> Logger.Level? { lock.withLock { entries.first { $0.message.contains(text) }?.level } }

    fileprivate func add(_ level: Logger.Level, _ message: String) { lock.withLock { entries.append((level, message)) } }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) { capture.add(event.level, event.message.description) }
    }
}

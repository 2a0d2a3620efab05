import Foundation
import Glibc

/// Routes SIGINT and SIGTERM to a ``TrainingControl`` (or any handler) instead of killing the process.
public final class InterruptHandler: @unchecked Sendable {
    private var sources: [any DispatchSourceSignal] = []
    private let lock = NSLock()
    private var first: Int32?

    /// The first signal that arrived, if any.
    public var signal: Int32? { lock.withLock { first } }

    /// Installs the handlers; they stay until the handler is deinitialised.
    public convenience init(control: TrainingControl, onSignal: @escaping @Sendable (Int32) -> Void = { _ in }) {
        self.init { sig in
            onSignal(sig)
            control.stop(signal: sig)
        }
    }

    /// Installs `onSignal` for SIGINT and SIGTERM (on a background queue) until deinitialised.
    public init(onSignal: @escaping @Sendable (Int32) -> Void) {
        for sig in [SIGINT, SIGTERM] {
            Glibc.signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in
                self?.lock.withLock { if self?.first == nil { self?.first = sig } }
                onSignal(sig)
            }
            source.resume()
            sources.append(source)
        }
    }

    deinit {
        for source in sources { source.cancel() }
        Glibc.signal(SIGINT, SIG_DFL)
        Glibc.signal(SIGTERM, SIG_DFL)
    }
}

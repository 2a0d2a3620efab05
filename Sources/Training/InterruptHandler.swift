import Foundation
import Glibc

/// Routes SIGINT and SIGTERM to a ``TrainingControl`` instead of killing the process.
public final class InterruptHandler: @unchecked Sendable {
    private var sources: [any DispatchSourceSignal] = []

    /// Installs the handlers; they stay until the handler is deinitialised.
    public init(control: TrainingControl, onSignal: @escaping @Sendable (Int32) -> Void = { _ in }) {
        for sig in [SIGINT, SIGTERM] {
            Glibc.signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                onSignal(sig)
                control.stop(signal: sig)
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

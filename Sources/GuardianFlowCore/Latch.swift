import Foundation

/// A value set once and awaited by any number of tasks: a process's exit, whoever waits for
/// it; the first of two answers (an exit or a timeout).
public final class Latch<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value?
    private var waiters: [CheckedContinuation<Value, Never>] = []

    public init() {}

    /// The value, once set.
    public var current: Value? { lock.withLock { value } }

    /// Sets the value and wakes every waiter. Only the first call counts.
    ///
    /// - Returns: whether this call set it.
    @discardableResult
    public func resolve(_ newValue: Value) -> Bool {
        let woken: [CheckedContinuation<Value, Never>]? = lock.withLock {
            guard value == nil else { return nil }
            value = newValue
            defer { waiters = [] }
            return waiters
        }
        guard let woken else { return false }
        for waiter in woken { waiter.resume(returning: newValue) }
        return true
    }

    /// The value, waiting until it is set.
    public func wait() async -> Value {
        await withCheckedContinuation { continuation in
            let ready: Value? = lock.withLock {
                if let value { return value }
                waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

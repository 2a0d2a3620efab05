import CSupport
import Foundation
import Glibc

/// A thread that lives as long as the process and runs spawn calls one at a time.
final class SpawnerThread: @unchecked Sendable {
    static let shared = SpawnerThread()

    private struct Job {
        var work: () -> Void
        var done: DispatchSemaphore
    }

    private let condition = NSCondition()
    private var jobs: [Job] = []

    private init() {
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "guardianflow-spawner"
        thread.start()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            var job: Job? = jobs.removeFirst()
            condition.unlock()
            job!.work()
            let done = job!.done
            // Release the closure before the caller resumes: it wraps a non-escaping one.
            job = nil
            done.signal()
        }
    }

    /// Runs `body` on the spawner thread and waits for its result.
    func perform<R>(_ body: () -> R) -> R {
        withoutActuallyEscaping(body) { escapable in
            let box = ResultBox<R>()
            let done = DispatchSemaphore(value: 0)
            condition.lock()
            jobs.append(Job(work: { box.value = escapable() }, done: done))
            condition.signal()
            condition.unlock()
            done.wait()
            return box.value!
        }
    }
}

/// Carries a spawn call's result from the spawner thread back to its caller.
private final class ResultBox<R>: @unchecked Sendable {
    var value: R?
}

import Foundation
import GuardianFlowCore

#if canImport(Glibc)
    import Glibc
#endif

/// An exclusive lock on one run's import (`flock` on a file under the work dir), so that two
/// imports of the same folder at once leave one run: the second waits, then finds it imported.
struct ImportLock {
    private let fd: Int32

    /// Waits until the lock is free (polling, so the wait can be cancelled).
    ///
    /// - Throws: ``GuardianFlowError/io(_:)`` (74) when the lock file cannot be made.
    static func acquire(directory: String, key: String) async throws -> ImportLock {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw GuardianFlowError.io(
                "The import lock folder \(directory) cannot be made: \(error.localizedDescription). Check the work dir.")
        }
        let path = (directory as NSString).appendingPathComponent("\(key).lock")
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw GuardianFlowError.io("The import lock \(path) cannot be opened: \(String(cString: strerror(errno))). Check the work dir.")
        }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            do {
                try await Task.sleep(for: .milliseconds(50))
            } catch {
                close(fd)
                throw error
            }
        }
        return ImportLock(fd: fd)
    }

    func release() {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

import Crypto
import Foundation

/// The digests a multipart upload needs, from one sequential read of the file: each part's
/// SHA-256 (to sign its upload), in order, then the whole file's.
///
/// Reading the file once for both saves a pass over it: the parts used to be hashed by one read
/// and the whole file by another, and on the 2-CPU benchmark machine (BENCHMARKS.md) that
/// second copy out of the page cache cost nearly half as much CPU as the hashing. The price is
/// that both digests come from one core: about 0.7 GB/s there, above what an upload moved. It
/// runs on a thread of its own, so the tasks' pool stays free to send the parts meanwhile.
enum PartHasher {
    enum Digest: Sendable {
        case part(index: Int, sha256: String)
        case whole(sha256: String)
    }

    /// Starts hashing `file` (`size` bytes) in parts of `partSize`; the stream yields each part's
    /// digest as soon as it is known, then the whole file's, and ends. The thread stops early once
    /// the stream is dropped or finished.
    static func start(file: String, size: Int64, partSize: Int64) -> AsyncThrowingStream<Digest, any Error> {
        let (stream, continuation) = AsyncThrowingStream<Digest, any Error>.makeStream()
        let stopped = StopFlag()
        continuation.onTermination = { _ in stopped.set() }
        let thread = Thread {
            do {
                let reader = try FileReader(path: file)
                var whole = SHA256()
                var offset: Int64 = 0
                var index = 0
                while offset < size {
                    if stopped.isSet { return }
                    var part = SHA256()
                    let length = min(partSize, size - offset)
                    try reader.read(offset: offset, length: length) { chunk in
                        whole.update(bufferPointer: chunk)
                        part.update(bufferPointer: chunk)
                    }
                    continuation.yield(.part(index: index, sha256: SigV4Signer.hex(part.finalize())))
                    offset += length
                    index += 1
                }
                continuation.yield(.whole(sha256: SigV4Signer.hex(whole.finalize())))
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        thread.name = "guardianflow.s3.hash"
        thread.start()
        return stream
    }

    /// Set once, read by the hashing thread.
    final class StopFlag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false

        var isSet: Bool { lock.withLock { value } }

        func set() { lock.withLock { value = true } }
    }
}

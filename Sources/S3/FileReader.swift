import Crypto
import Foundation

/// Reads byte ranges of a file with `pread` into one reused buffer, for hashing.
///
/// `FileHandle.read(upToCount:)` allocates a new `Data` for every chunk; over a multi-GiB
/// transfer that is needless work and memory that glibc keeps. One reader serves one task at
/// a time (it is not `Sendable`).
final class FileReader {
    let path: String
    private let descriptor: Int32
    private let buffer: UnsafeMutableRawBufferPointer

    /// Opens `path` for reading, with a `chunk`-byte buffer. 64 KiB stays in the core's cache
    /// between the copy from the page cache and the hash that reads it back: on the benchmark
    /// machine (BENCHMARKS.md) a 1 MiB buffer cost uploads and downloads ~15% more CPU.
    init(path: String, chunk: Int = 64 * 1024) throws {
        self.path = path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw S3Error.file(path: path, detail: "it cannot be opened for reading (\(String(cString: strerror(errno))))")
        }
        buffer = .allocate(byteCount: chunk, alignment: 16)
    }

    deinit {
        close(descriptor)
        buffer.deallocate()
    }

    /// Feeds `length` bytes from `offset`, in order, to `consume`.
    func read(offset: Int64, length: Int64, _ consume: (UnsafeRawBufferPointer) -> Void) throws {
        var position = offset
        var remaining = length
        while remaining > 0 {
            let want = Int(min(Int64(buffer.count), remaining))
            let got = pread(descriptor, buffer.baseAddress, want, off_t(position))
            if got < 0 {
                if errno == EINTR { continue }
                throw S3Error.file(path: path, detail: "it cannot be read (\(String(cString: strerror(errno))))")
            }
            guard got > 0 else { throw S3Error.file(path: path, detail: "it is shorter than expected") }
            consume(UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
            position += Int64(got)
            remaining -= Int64(got)
        }
    }

    /// Adds `length` bytes from `offset` to a running SHA-256.
    func update(_ hash: inout SHA256, offset: Int64, length: Int64) throws {
        try read(offset: offset, length: length) { hash.update(bufferPointer: $0) }
    }

    /// The SHA-256 (lowercase hex) of `length` bytes from `offset`.
    func sha256(offset: Int64, length: Int64) throws -> String {
        var hash = SHA256()
        try update(&hash, offset: offset, length: length)
        return SigV4Signer.hex(hash.finalize())
    }
}

import Crypto
import Foundation
import HTTPSupport
import PathSupport

extension S3Client {
    /// Uploads a file: one signed PutObject below the multipart threshold, otherwise a
    /// multipart upload with parts in parallel. Memory stays bounded (the file is streamed,
    /// never held). Each request's body is signed with its SHA-256 (`x-amz-content-sha256`),
    /// which the store checks against what it received, and the stored size is checked after.
    /// ETags are recorded as the store gives them and never compared with an MD5: SSE-KMS
    /// buckets and several gateways do not return MD5s. A failed multipart upload is aborted; one
    /// that completed never is. The result carries the whole file's SHA-256.
    public func upload(file: String, bucket: String, key: String) async throws -> S3UploadResult {
        let size = try Self.fileSize(file)
        if size < configuration.multipartThreshold {
            let sha256 = try FileReader(path: file).sha256(offset: 0, length: size)
            let response = try await send(
                Call(
                    operation: "PutObject", method: "PUT", bucket: bucket, key: key,
                    headers: [("content-type", "application/octet-stream")], body: .file(path: file, size: size),
                    payloadHash: sha256))
            try await verifySize(bucket: bucket, key: key, expected: size)
            return S3UploadResult(size: size, etag: Self.unquote(response.header("ETag") ?? ""), sha256: sha256, parts: 1)
        }
        return try await multipartUpload(file: file, size: size, bucket: bucket, key: key)
    }

    func multipartUpload(file: String, size: Int64, bucket: String, key: String) async throws -> S3UploadResult {
        let partSize = max(configuration.partSize, 5 * 1024 * 1024)
        let count = Int((size + partSize - 1) / partSize)
        let created = try await send(
            Call(
                operation: "CreateMultipartUpload", method: "POST", bucket: bucket, key: key, query: [("uploads", "")],
                headers: [("content-type", "application/octet-stream")]))
        guard let uploadId = S3XML.value("UploadId", in: String(decoding: created.body, as: UTF8.self)) else {
            throw S3Error.integrity("S3 answered CreateMultipartUpload for s3://\(bucket)/\(key) without an UploadId.")
        }
        var completed = false
        do {
            // One sequential read hashes the parts (in order, as they are needed) and the file;
            // up to `concurrency` parts are sent while the next ones are hashed.
            var wholeSHA: String?
            var etags = [String](repeating: "", count: count)
            try await withThrowingTaskGroup(of: (Int, String).self) { group in
                var running = 0
                for try await digest in PartHasher.start(file: file, size: size, partSize: partSize) {
                    switch digest {
                    case .whole(let sha256):
                        wholeSHA = sha256
                    case .part(let index, let sha256):
                        if running >= max(1, configuration.concurrency), let (done, etag) = try await group.next() {
                            etags[done] = etag
                            running -= 1
                        }
                        group.addTask {
                            try await uploadPart(index, sha256: sha256, of: file, size: size, partSize: partSize, uploadId, bucket, key)
                        }
                        running += 1
                    }
                }
                while let (done, etag) = try await group.next() { etags[done] = etag }
            }
            guard let wholeSHA else {
                throw S3Error.file(path: file, detail: "it was not hashed to the end (it may have changed during the upload)")
            }
            var body = "<CompleteMultipartUpload>"
            for (index, etag) in etags.enumerated() {
                body += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(S3XML.escapeText(etag))</ETag></Part>"
            }
            body += "</CompleteMultipartUpload>"
            let data = Data(body.utf8)
            let response = try await send(
                Call(
                    operation: "CompleteMultipartUpload", method: "POST", bucket: bucket, key: key, query: [("uploadId", uploadId)],
                    headers: [("content-type", "application/xml")], body: .bytes(data),
                    payloadHash: SigV4Signer.hex(SHA256.hash(data: data))))
            let xml = String(decoding: response.body, as: UTF8.self)
            if let code = S3XML.value("Code", in: xml), xml.contains("<Error>") {
                // S3 can answer 200 and still fail the completion.
                throw S3Error.service(
                    operation: "CompleteMultipartUpload", status: 200, code: code, message: S3XML.value("Message", in: xml) ?? "",
                    endpoint: configuration.endpoint, bucket: bucket, key: key)
            }
            completed = true
            let stored = try await headObject(bucket: bucket, key: key)
            guard let stored, stored.size == size else {
                throw S3Error.integrity(
                    "s3://\(bucket)/\(key) has \(stored?.size ?? 0) bytes after the upload, but the file has \(size). "
                        + "The store did not keep what was sent; upload it again.")
            }
            return S3UploadResult(size: size, etag: stored.etag, sha256: wholeSHA, parts: count)
        } catch {
            if !completed {
                // Never abort a completed upload: SeaweedFS deletes the object then.
                try? await abortMultipartUpload(bucket: bucket, key: key, uploadId: uploadId)
            }
            throw error
        }
    }

    /// Sends part `index` (from 0) of a multipart upload, signed with its SHA-256; returns its
    /// index and its ETag exactly as the store sent it.
    func uploadPart(
        _ index: Int, sha256: String, of file: String, size: Int64, partSize: Int64, _ uploadId: String, _ bucket: String, _ key: String
    ) async throws -> (Int, String) {
        let offset = Int64(index) * partSize
        let length = min(partSize, size - offset)
        let response = try await send(
            Call(
                operation: "UploadPart", method: "PUT", bucket: bucket, key: key,
                query: [("partNumber", String(index + 1)), ("uploadId", uploadId)],
                body: .fileRange(path: file, offset: offset, length: length), payloadHash: sha256))
        // Kept exactly as the store sent it: CompleteMultipartUpload must name the same ETags.
        guard let etag = response.header("ETag")?.trimmingCharacters(in: .whitespaces), !etag.isEmpty else {
            throw S3Error.integrity(
                "S3 answered UploadPart \(index + 1) of s3://\(bucket)/\(key) without an ETag, which "
                    + "CompleteMultipartUpload needs; the upload was aborted. Check that the endpoint is an S3 API.")
        }
        return (index, etag)
    }

    /// Aborts a multipart upload, removing its parts.
    public func abortMultipartUpload(bucket: String, key: String, uploadId: String) async throws {
        try await Task.detached {
            _ = try await send(
                Call(operation: "AbortMultipartUpload", method: "DELETE", bucket: bucket, key: key, query: [("uploadId", uploadId)]))
        }.value
    }

    /// The multipart uploads in progress in a bucket (key, upload id).
    public func listMultipartUploads(bucket: String) async throws -> [(key: String, uploadId: String)] {
        let response = try await send(Call(operation: "ListMultipartUploads", method: "GET", bucket: bucket, query: [("uploads", "")]))
        let xml = String(decoding: response.body, as: UTF8.self)
        return S3XML.blocks("Upload", in: xml).map { (S3XML.value("Key", in: $0) ?? "", S3XML.value("UploadId", in: $0) ?? "") }
    }

    /// Downloads an object to a file, in parallel ranges when it is large; the file appears
    /// only when complete and checked; a failed download removes its partial file and leaves
    /// whatever was at `destination` before as it was.
    ///
    /// What is checked: every GET carries `If-Match` with the ETag of the HEAD that sized the
    /// object, so an object replaced mid-download fails (the store answers 412) instead of being
    /// stitched from two versions; the bytes written are counted for each range and in all and
    /// must be the object's size; the SHA-256 of what was written is computed (behind the
    /// ranges, as they complete in order) and, when `sha256` is given, must equal it.
    ///
    /// - Returns: the file's SHA-256 (lowercase hex).
    @discardableResult
    public func download(bucket: String, key: String, to destination: String, sha256 expected: String? = nil) async throws -> String {
        guard let object = try await head(bucket: bucket, key: key) else {
            throw S3Error.service(
                operation: "GetObject", status: 404, code: "NoSuchKey", message: "The object does not exist.",
                endpoint: configuration.endpoint, bucket: bucket, key: key)
        }
        let manager = FileManager.default
        let directory = FilePaths.parent(destination)
        if !directory.isEmpty { try? manager.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        let partial = destination + ".part"
        let target = ObjectTarget(bucket: bucket, key: key, destination: destination)
        do {
            let digest: String
            // Without an ETag the ranges cannot be tied to one version; one GET is one version.
            if object.size < configuration.multipartThreshold || object.entityTag == nil {
                let response = try await send(
                    Call(operation: "GetObject", method: "GET", bucket: bucket, key: key, headers: Self.ifMatch(object.entityTag)),
                    into: .file(partial))
                try target.checkWritten(response.bytesWritten, expected: object.size, what: "the answer")
                digest = try FileReader(path: partial).sha256(offset: 0, length: object.size)
            } else {
                digest = try await rangedDownload(object, into: partial, target)
            }
            let size = try Self.fileSize(partial)
            guard size == object.size else {
                throw S3Error.integrity(
                    "Downloading s3://\(bucket)/\(key) wrote a file of \(size) bytes, but the object has \(object.size); "
                        + "nothing was written to \(destination). Download it again.")
            }
            if let expected, digest != expected.lowercased() {
                throw S3Error.integrity(
                    "s3://\(bucket)/\(key) was downloaded with SHA-256 \(digest), not the expected \(expected.lowercased()); "
                        + "nothing was written to \(destination). The stored object is not the one expected (changed or corrupted).")
            }
            if manager.fileExists(atPath: destination) { try manager.removeItem(atPath: destination) }
            try manager.moveItem(atPath: partial, toPath: destination)
            return digest
        } catch {
            try? manager.removeItem(atPath: partial)
            if case S3Error.service(_, 412, _, _, _, _, _) = error {
                throw S3Error.integrity(
                    "s3://\(bucket)/\(key) changed while it was being downloaded: the store refused a request for ETag "
                        + "\(object.entityTag ?? "") (412 Precondition Failed), the version whose size the download started with, "
                        + "so the file would have mixed two versions. Nothing was written to \(destination); download it again "
                        + "once nothing is writing the object.")
            }
            throw error
        }
    }

    /// The ranged, parallel part of ``download(bucket:key:to:sha256:)``: `concurrency` ranges of
    /// `partSize` at a time, each written at its offset into `partial` (created at full size), each
    /// with `If-Match`. The SHA-256 follows the contiguous prefix of completed ranges, reading them
    /// back from the page cache, so hashing overlaps the transfer instead of following it.
    func rangedDownload(_ object: ObjectVersion, into partial: String, _ target: ObjectTarget) async throws -> String {
        let manager = FileManager.default
        guard manager.createFile(atPath: partial, contents: nil), let handle = FileHandle(forWritingAtPath: partial) else {
            throw S3Error.file(path: partial, detail: "cannot be created")
        }
        try handle.truncate(atOffset: UInt64(object.size))
        try handle.close()
        let partSize = max(configuration.partSize, 1024 * 1024)
        let ranges = stride(from: Int64(0), to: object.size, by: Int(partSize)).map { ($0, min($0 + partSize, object.size) - 1) }
        let reader = try FileReader(path: partial)
        var hash = SHA256()
        var done = [Bool](repeating: false, count: ranges.count)
        var hashed = 0
        var total: Int64 = 0
        try await withThrowingTaskGroup(of: (Int, Int64?).self) { group in
            var next = 0
            func add(_ group: inout ThrowingTaskGroup<(Int, Int64?), any Error>, _ index: Int) {
                let (first, last) = ranges[index]
                group.addTask {
                    let response = try await send(
                        Call(
                            operation: "GetObject", method: "GET", bucket: target.bucket, key: target.key,
                            headers: [("range", "bytes=\(first)-\(last)")] + Self.ifMatch(object.entityTag)),
                        into: .fileAt(partial, first))
                    return (index, response.bytesWritten)
                }
            }
            while next < min(ranges.count, max(1, configuration.concurrency)) {
                add(&group, next)
                next += 1
            }
            while let (index, written) = try await group.next() {
                let (first, last) = ranges[index]
                try target.checkWritten(written, expected: last - first + 1, what: "the answer for bytes \(first)-\(last)")
                total += written ?? 0
                done[index] = true
                if next < ranges.count {
                    add(&group, next)
                    next += 1
                }
                while hashed < ranges.count, done[hashed] {
                    let (first, last) = ranges[hashed]
                    try reader.update(&hash, offset: first, length: last - first + 1)
                    hashed += 1
                }
            }
        }
        guard total == object.size else {
            throw S3Error.integrity(
                "The ranges of s3://\(target.bucket)/\(target.key) came to \(total) bytes, but the object has \(object.size); "
                    + "nothing was written to \(target.destination). Download it again.")
        }
        return SigV4Signer.hex(hash.finalize())
    }

    /// An object as a download starts from it: its size and its ETag exactly as the store sent it
    /// (quoted), to send back in `If-Match`; nil when the store sent none.
    struct ObjectVersion {
        var size: Int64
        var entityTag: String?
    }

    /// What a download is of and where it goes, for its checks' messages.
    struct ObjectTarget {
        var bucket: String
        var key: String
        var destination: String

        /// A body streamed to the file must have been exactly `expected` bytes: a short one would
        /// otherwise leave zeros in a file that was sized in advance.
        func checkWritten(_ written: Int64?, expected: Int64, what: String) throws {
            guard let written else {
                throw S3Error.integrity(
                    "The HTTP transport did not report how many bytes of s3://\(bucket)/\(key) it wrote, so the download "
                        + "cannot be checked; nothing was written to \(destination). Use a transport that sets HTTPResponse.bytesWritten.")
            }
            guard written == expected else {
                throw S3Error.integrity(
                    "Downloading s3://\(bucket)/\(key): \(what) had \(written) bytes, not \(expected) (the body was cut short "
                        + "or the store ignored the range); nothing was written to \(destination). Download it again.")
            }
        }
    }

    /// The `If-Match` header for an entity tag, if there is one.
    static func ifMatch(_ entityTag: String?) -> [(String, String)] {
        guard let entityTag else { return [] }
        return [("if-match", entityTag)]
    }

    func verifySize(bucket: String, key: String, expected: Int64) async throws {
        guard let stored = try await headObject(bucket: bucket, key: key), stored.size == expected else {
            throw S3Error.integrity(
                "s3://\(bucket)/\(key) does not have the \(expected) bytes that were uploaded. The store did not keep what "
                    + "was sent; upload it again.")
        }
    }

    static func fileSize(_ path: String) throws -> Int64 {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let size = (attributes[.size] as? NSNumber)?.int64Value
        else {
            throw S3Error.file(path: path, detail: "it does not exist or cannot be read")
        }
        return size
    }
}

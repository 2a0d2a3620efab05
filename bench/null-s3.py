"""A null S3 endpoint for benchmarks (bench/s3-transfer.sh): it answers what an upload and a
download need and keeps no data, so what a client achieves against it is the client's own ceiling.

    null-s3.py [--port N]        serve on 127.0.0.1 (a free port unless N); prints
                                 "listening on http://127.0.0.1:PORT" once it accepts connections
    null-s3.py --sha256 SIZE     the SHA-256 of a SIZE-byte object as GET serves it

No signature is checked. Bodies are read in 1 MiB chunks into a per-thread buffer and only
MD5-hashed (the ETag S3 would give, so the server does the work S3 does; hashlib releases the GIL),
then dropped.
It remembers each object's size and ETag (the MD5, or for a multipart upload the MD5 of the parts'
MD5 digests and "-N"), and GET serves that many bytes of a fixed pseudo-random 1 MiB block, repeated,
with Range support. Requests: HEAD/PUT bucket; PUT object; POST ?uploads (CreateMultipartUpload);
PUT ?partNumber&uploadId (UploadPart); POST ?uploadId (CompleteMultipartUpload); DELETE ?uploadId
and DELETE object; HEAD and GET object. Anything else gets 501.
"""

import hashlib
import http.server
import random
import re
import sys
import threading
import uuid
from urllib.parse import parse_qs, urlsplit

CHUNK = 1 << 20
BLOCK = random.Random(5).randbytes(CHUNK)
DOUBLE = memoryview(BLOCK * 2)  # any CHUNK-long window of the repeated block is one slice


def pattern_sha256(size: int) -> str:
    h = hashlib.sha256()
    whole, rest = divmod(size, CHUNK)
    for _ in range(whole):
        h.update(BLOCK)
    h.update(BLOCK[:rest])
    return h.hexdigest()


objects = {}  # "/bucket/key" -> (size, quoted ETag)
uploads = {}  # upload id -> {part number: (size, md5 digest)}
lock = threading.Lock()
local = threading.local()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer has a Content-Length

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", headers=(), length=None):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def xml(self, text):
        self.answer(200, b'<?xml version="1.0" encoding="UTF-8"?>\n' + text.encode(), [("Content-Type", "application/xml")])

    def drain(self, keep=False):
        """Reads the body: (size, MD5 digest[, the bytes when keep])."""
        left = int(self.headers.get("Content-Length") or 0)
        if not hasattr(local, "buffer"):
            local.buffer = memoryview(bytearray(CHUNK))
        buffer, md5, size, kept = local.buffer, hashlib.md5(), left, []
        while left:
            got = self.rfile.readinto(buffer[:min(left, CHUNK)])
            if not got:
                raise ConnectionError("the client closed the connection mid-body")
            md5.update(buffer[:got])
            if keep:
                kept.append(bytes(buffer[:got]))
            left -= got
        return size, md5.digest(), b"".join(kept)

    def parse(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        parts = url.path.lstrip("/").split("/", 1)
        return url.path, parts[0], (parts[1] if len(parts) > 1 else ""), {k: v[0] for k, v in query.items()}

    def do_HEAD(self):
        path, bucket, key, _ = self.parse()
        if not key:
            return self.answer(200)
        with lock:
            found = objects.get(path)
        if not found:
            return self.answer(404)
        self.answer(200, headers=[("ETag", found[1]), ("Content-Type", "application/octet-stream"),
                                  ("Accept-Ranges", "bytes")], length=found[0])

    def do_GET(self):
        path, bucket, key, query = self.parse()
        with lock:
            found = objects.get(path) if key else None
        if not found:
            return self.answer(404, b"<Error><Code>NoSuchKey</Code><Message>null-s3 has no such object</Message></Error>",
                               [("Content-Type", "application/xml")])
        size, etag = found
        start, end, status = 0, size - 1, 200
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if match and size and (match[1] or match[2]):
            if match[1]:
                start, end = int(match[1]), min(int(match[2] or size - 1), size - 1)
            else:
                start = max(0, size - int(match[2]))
            if start > end:
                return self.answer(416, headers=[("Content-Range", f"bytes */{size}")])
            status = 206
        length = end - start + 1
        headers = [("ETag", etag), ("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes")]
        if status == 206:
            headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
        self.answer(status, headers=headers, length=length)
        while length > 0:
            n = min(CHUNK, length)
            offset = start % CHUNK
            self.wfile.write(DOUBLE[offset:offset + n])
            start += n
            length -= n

    def do_PUT(self):
        path, bucket, key, query = self.parse()
        size, digest, _ = self.drain()
        if not key:
            return self.answer(200)
        etag = f'"{digest.hex()}"'
        if "uploadId" in query:
            with lock:
                parts = uploads.get(query["uploadId"])
                if parts is not None:
                    parts[int(query["partNumber"])] = (size, digest)
            if parts is None:
                return self.answer(404, b"<Error><Code>NoSuchUpload</Code></Error>")
        else:
            with lock:
                objects[path] = (size, etag)
        self.answer(200, headers=[("ETag", etag)])

    def do_POST(self):
        path, bucket, key, query = self.parse()
        _, _, body = self.drain(keep=True)
        if "uploads" in query:
            upload = uuid.uuid4().hex
            with lock:
                uploads[upload] = {}
            return self.xml(f"<InitiateMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{key}</Key>"
                            f"<UploadId>{upload}</UploadId></InitiateMultipartUploadResult>")
        if "uploadId" in query:
            numbers = [int(n) for n in re.findall(rb"<PartNumber>\s*(\d+)\s*</PartNumber>", body)]
            with lock:
                parts = uploads.pop(query["uploadId"], None)
            if parts is None or not numbers or any(n not in parts for n in numbers):
                return self.answer(400, b"<Error><Code>InvalidPart</Code></Error>")
            chosen = [parts[n] for n in numbers]
            etag = f'"{hashlib.md5(b"".join(d for _, d in chosen)).hexdigest()}-{len(chosen)}"'
            with lock:
                objects[path] = (sum(s for s, _ in chosen), etag)
            return self.xml(f"<CompleteMultipartUploadResult><Location>{path}</Location><Bucket>{bucket}</Bucket>"
                            f"<Key>{key}</Key><ETag>{etag}</ETag></CompleteMultipartUploadResult>")
        self.answer(501)

    def do_DELETE(self):
        path, bucket, key, query = self.parse()
        self.drain()
        with lock:
            if "uploadId" in query:
                uploads.pop(query["uploadId"], None)
            elif key:
                objects.pop(path, None)
        self.answer(204)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main(argv):
    if argv[:1] == ["--sha256"]:
        print(pattern_sha256(int(argv[1])))
        return
    port = int(argv[1]) if argv[:1] == ["--port"] else 0
    server = Server(("127.0.0.1", port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])

"""A reverse proxy in front of a real MLflow server that loses answers: for the first request to
each path named on the command line, it forwards the request, lets the server carry it out, reads
the server's answer, then closes the client's connection without sending it. Every other request
is passed through unchanged.

    python lossy_proxy.py --upstream http://127.0.0.1:5000 --port 0 \
        /api/2.0/mlflow/runs/create /api/2.0/mlflow/model-versions/create

Prints `port N` on stdout once it listens; `GET /_lossy/dropped` answers how many answers were
lost per path (JSON). Stops on SIGTERM. Used by the Swift tests of create-once and replay.
"""

import argparse
import http.client
import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args()
    upstream = urllib.parse.urlsplit(args.upstream)
    lock = threading.Lock()
    to_drop = set(args.paths)
    dropped: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):  # quiet
            pass

        def _forward(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/_lossy/dropped":
                body = json.dumps(dropped).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            connection.close()
            with lock:
                drop = path in to_drop
                if drop:
                    to_drop.discard(path)
                    dropped[path] = dropped.get(path, 0) + 1
            if drop:
                # The server has done it; the client never hears.
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _forward

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"port {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""A test upstream: a threaded HTTP/1.1 server that reports what it received.

Routes (any method):
  /status/<code>      answers <code> with body "status <code>"
  /chunked?n=K        a chunked body of K chunks "chunk i\n"
  /close-delimited    HTTP/1.1 200 with no length, ends by closing
  /stream?n=K&ms=M    chunked, one chunk every M milliseconds (server-sent style)
  /bytes?n=N          N bytes (a repeating pattern) with Content-Length
  /sleep?ms=M         answers after M milliseconds
  /header?name=v      sets response header X-Test: v and Set-Cookie twice
  /forged-error       502 "mine" with X-Runtime-Proxy-Error: upstream-refused
  /gated?id=X         chunked: sends "first\n", waits (20 s at most) for /release?id=X, sends "second\n"
  /release?id=X       releases the gated response X
Arguments: [port] or --unix PATH.
  anything else       200 with a JSON echo of method, target, headers, body length and sha256
Prints "READY <port>" on stdout once listening.
"""
import hashlib, json, os, socketserver, sys, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse, parse_qs


GATES = {}
GATES_LOCK = threading.Lock()


def gate(name):
    with GATES_LOCK:
        return GATES.setdefault(name, threading.Event())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def read_body(self):
        digest = hashlib.sha256()
        total = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                remaining = size
                while remaining:
                    data = self.rfile.read(min(remaining, 1 << 20))
                    digest.update(data)
                    remaining -= len(data)
                    total += len(data)
                self.rfile.readline()
        else:
            remaining = int(self.headers.get("Content-Length", "0") or 0)
            while remaining:
                data = self.rfile.read(min(remaining, 1 << 20))
                if not data:
                    break
                digest.update(data)
                remaining -= len(data)
                total += len(data)
        return total, digest.hexdigest()

    def send_body(self, code, body, content_type="text/plain", extra=()):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        for name, value in extra:
            self.send_header(name, value)
        if code not in (204, 304) and not (100 <= code < 200):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and code not in (204, 304):
            self.wfile.write(body)

    def handle_any(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        length, digest = self.read_body()
        if url.path.startswith("/status/"):
            code = int(url.path.split("/")[2])
            return self.send_body(code, f"status {code}".encode())
        if url.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(int(query.get("n", ["3"])[0])):
                data = f"chunk {i}\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")
            return
        if url.path == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(int(query.get("n", ["3"])[0])):
                data = f"data: {i}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                time.sleep(int(query.get("ms", ["100"])[0]) / 1000)
            self.wfile.write(b"0\r\n\r\n")
            return
        if url.path == "/gated":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"6\r\nfirst\n\r\n")
            self.wfile.flush()
            gate(query.get("id", [""])[0]).wait(20)
            self.wfile.write(b"7\r\nsecond\n\r\n0\r\n\r\n")
            return
        if url.path == "/release":
            gate(query.get("id", [""])[0]).set()
            return self.send_body(200, b"released")
        if url.path == "/close-delimited":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until the end")
            self.close_connection = True
            return
        if url.path == "/bytes":
            total = int(query.get("n", ["0"])[0])
            self.send_response(200)
            self.send_header("Content-Length", str(total))
            self.end_headers()
            block = bytes(range(256)) * 4096
            sent = 0
            while sent < total and self.command != "HEAD":
                piece = block[: min(len(block), total - sent)]
                self.wfile.write(piece)
                sent += len(piece)
            return
        if url.path == "/sleep":
            time.sleep(int(query.get("ms", ["100"])[0]) / 1000)
            return self.send_body(200, b"slept")
        if url.path == "/forged-error":
            # A runtime that claims the proxy failed: the proxy must drop it.
            return self.send_body(502, b"mine", extra=[("X-Runtime-Proxy-Error", "upstream-refused")])
        if url.path == "/header":
            return self.send_body(200, b"headers", extra=[("X-Test", query.get("name", [""])[0]),
                                                         ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
        echo = {
            "method": self.command,
            "target": self.path,
            "version": self.request_version,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body_length": length,
            "body_sha256": digest,
        }
        self.send_body(200, json.dumps(echo).encode(), "application/json")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = handle_any


class UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    request_queue_size = 1024

    def get_request(self):
        connection, _ = super().get_request()
        return connection, ("unix", 0)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--unix":
        if os.path.exists(sys.argv[2]):
            os.unlink(sys.argv[2])
        server = UnixServer(sys.argv[2], Handler)
        print("READY 0", flush=True)
    else:
        ThreadingHTTPServer.request_queue_size = 1024  # the listen backlog, used when binding
        server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
        server.daemon_threads = True
        print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()

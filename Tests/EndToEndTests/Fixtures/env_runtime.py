#!/usr/bin/python3
"""A runtime that binds $PORT on 127.0.0.1 and answers every request with
the JSON of the environment variables named in its arguments, so a test can
see what the proxy gave the process it started."""
import json, os, sys
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

NAMES = sys.argv[1:]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = json.dumps({name: os.environ.get(name) for name in NAMES}, sort_keys=True).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()

#!/usr/bin/env python3
"""A tiny Kubeless-style function runtime for the demo: it listens on
127.0.0.1:8090 (where the Kubeless proxy contract puts the runtime) and calls
a handler(event, context) for every request, as a runtime image would."""
import json
import sys
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler


def handler(event, context):
    if event["data"]:
        return {"received": event["data"], "event-id": event["event-id"]}
    return "hello world"


class Runtime(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path == "/healthz":
            return self.reply(200, b"OK", "text/plain")
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = raw.decode("utf-8", "replace")
        event = {
            "data": data,
            "event-id": self.headers.get("event-id", ""),
            "event-type": self.headers.get("event-type", ""),
            "event-time": self.headers.get("event-time", ""),
            "event-namespace": self.headers.get("event-namespace", ""),
            "extensions": {"method": self.command, "path": self.path},
        }
        context = {"function-name": "demo", "runtime": "python3", "timeout": "180", "memory-limit": "128Mi"}
        result = handler(event, context)
        if isinstance(result, str):
            self.reply(200, result.encode(), "text/plain")
        else:
            self.reply(200, json.dumps(result).encode(), "application/json")

    def reply(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = serve


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8090
    ThreadingHTTPServer(("127.0.0.1", port), Runtime).serve_forever()

#!/usr/bin/python3
"""A runtime for supervision tests. argv: PORT [--single-threaded] [--sigterm-exit N].

GET /sleep?ms=M answers after M ms (with &announce=1 it first prints
"SLEEPING" on stdout: the request has been read); any other path answers at once.
Prints "READY" when listening, "SIGHUP received" on SIGHUP, and, on SIGTERM, "SIGTERM active=A completed=C"
(requests still running and requests answered), then exits 0 (or N). With
--single-threaded it serves one connection at a time, as many interpreters do;
it counts how many connections it ever had open at once in /stats."""
import signal, sys, threading, time
from http.server import HTTPServer, ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse, parse_qs

lock = threading.Lock()
state = {"active": 0, "completed": 0, "open": 0, "max_open": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        with lock:
            state["open"] += 1
            state["max_open"] = max(state["max_open"], state["open"])

    def finish(self):
        super().finish()
        with lock:
            state["open"] -= 1

    def do_GET(self):
        url = urlparse(self.path)
        with lock:
            state["active"] += 1
        if url.path == "/sleep":
            if "announce" in parse_qs(url.query):
                print("SLEEPING", flush=True)
            time.sleep(int(parse_qs(url.query).get("ms", ["100"])[0]) / 1000)
        with lock:
            body = (f"max_open={state['max_open']}" if url.path == "/stats" else "done").encode()
            state["active"] -= 1
            state["completed"] += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def on_sigterm(signum, frame):
    with lock:
        print(f"SIGTERM active={state['active']} completed={state['completed']}", flush=True)
    sys.exit(int(sys.argv[sys.argv.index("--sigterm-exit") + 1]) if "--sigterm-exit" in sys.argv else 0)


def on_sighup(signum, frame):
    print("SIGHUP received", flush=True)


signal.signal(signal.SIGTERM, on_sigterm)
signal.signal(signal.SIGHUP, on_sighup)
single = "--single-threaded" in sys.argv
server_class = HTTPServer if single else ThreadingHTTPServer
server_class.request_queue_size = 1024
server = server_class(("127.0.0.1", int(sys.argv[1])), Handler)
server.daemon_threads = True
print("READY", flush=True)
server.serve_forever()

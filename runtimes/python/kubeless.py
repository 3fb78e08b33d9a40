#!/usr/bin/python3
"""A Kubeless-style function server for Python: Bottle on gunicorn's threaded
workers, so calls run in parallel.

Environment:
  MOD_NAME       module to load, without ".py", from KUBELESS_DIR (required)
  FUNC_HANDLER   function of that module to call (required)
  KUBELESS_DIR   directory of the function (default /kubeless)
  RUNTIME_PORT   port on 127.0.0.1; else FUNC_PORT, which runtime-proxy sets
                 to its upstream's port for the runtime it starts; else 8090
  FUNC_TIMEOUT, FUNC_RUNTIME, FUNC_MEMORY_LIMIT   passed to the function in context
  PYTHON_WORKERS gunicorn worker processes (default 1: a 256 MB pod holds one)
  PYTHON_THREADS threads per worker, the calls served at once (default 8)
  SHUTDOWN_TIMEOUT   seconds calls in flight get after SIGTERM (default 10)

GET/POST/... on any path but /healthz calls handler(event, context); the
result is the body (str as text, bytes as they are, None as nothing,
anything else as JSON). An exception answers 500 with its message and the
server keeps serving. Timeouts are left to the proxy in front. One line per
request on stdout:  2024/05/01 12:00:00 GET /path?q=1 200
"""
import datetime
import importlib.util
import json
import os
import secrets
import sys
import threading
import time
import traceback

import bottle
from gunicorn.app.base import BaseApplication


def setting(name, default=None):
    value = os.environ.get(name)
    return default if value is None or value == "" else value


MOD_NAME = setting("MOD_NAME") or sys.exit("kubeless.py: MOD_NAME is not set")
HANDLER = setting("FUNC_HANDLER") or sys.exit("kubeless.py: FUNC_HANDLER is not set")
FUNCTION_FILE = os.path.join(setting("KUBELESS_DIR", "/kubeless"), MOD_NAME + ".py")
PORT = int(setting("RUNTIME_PORT", setting("FUNC_PORT", "8090")))
CONTEXT = {
    "function-name": MOD_NAME,
    "timeout": setting("FUNC_TIMEOUT", "180"),
    "runtime": setting("FUNC_RUNTIME", "python%d.%d" % sys.version_info[:2]),
    "memory-limit": setting("FUNC_MEMORY_LIMIT"),
}
LOG_LOCK = threading.Lock()


def load_function():
    """The handler, or an exit with the reason: a runtime that cannot call
    its function should not start."""
    try:
        spec = importlib.util.spec_from_file_location(MOD_NAME, FUNCTION_FILE)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, os.path.dirname(FUNCTION_FILE))
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - any failure to load stops the start
        sys.exit("kubeless.py: cannot load %s: %s: %s" % (FUNCTION_FILE, type(error).__name__, error))
    function = getattr(module, HANDLER, None)
    if not callable(function):
        sys.exit("kubeless.py: %s defines no function %s" % (FUNCTION_FILE, HANDLER))
    return function


FUNCTION = load_function()


def event_for(request):
    body = request.body.read()
    data = body.decode("utf-8", "replace")
    media_type = request.content_type.split(";")[0].strip().lower()
    if body and (media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))):
        try:
            data = json.loads(body)
        except ValueError:
            pass

    def header(name, default):
        value = request.get_header(name)
        return value if value else default

    return {
        "data": data,
        "event-id": header("event-id", secrets.token_hex(11)),
        "event-type": header("event-type", "application/json"),
        "event-time": header("event-time", datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S +0000 UTC")),
        "event-namespace": header("event-namespace", "cli.kubeless.io"),
        "extensions": {"request": request},
    }


app = bottle.Bottle()


@app.route("/healthz", method="ANY")
def healthz():
    bottle.response.content_type = "text/plain"
    return "OK"


@app.route("/", method="ANY")
@app.route("/<path:path>", method="ANY")
def call(path=""):
    try:
        result = FUNCTION(event_for(bottle.request), CONTEXT)
    except Exception as error:  # noqa: BLE001 - the function's failure is answered, not fatal
        sys.stderr.write("kubeless.py: %s raised %s: %s\n%s" % (HANDLER, type(error).__name__, error, traceback.format_exc()))
        bottle.response.status = 500
        bottle.response.content_type = "text/plain"
        return "%s\n" % error
    if isinstance(result, (bytes, bytearray)):
        bottle.response.content_type = "application/octet-stream"
        return bytes(result)
    if result is None or isinstance(result, str):
        bottle.response.content_type = "text/plain"
        return result or ""
    bottle.response.content_type = "application/json"
    return json.dumps(result)


def logged(wsgi):
    """One line per request on stdout, once its status is known."""
    def application(environ, start_response):
        def start(status, headers, exc_info=None):
            target = environ.get("PATH_INFO", "")
            if environ.get("QUERY_STRING"):
                target += "?" + environ["QUERY_STRING"]
            line = "%s %s %s %s\n" % (time.strftime("%Y/%m/%d %H:%M:%S"), environ.get("REQUEST_METHOD"), target, status.split(" ")[0])
            with LOG_LOCK:
                sys.stdout.write(line)
                sys.stdout.flush()
            return start_response(status, headers, exc_info)
        return wsgi(environ, start)
    return application


class Server(BaseApplication):
    """gunicorn in this process: the proxy watches and signals its master."""

    def load_config(self):
        self.cfg.set("bind", "127.0.0.1:%d" % PORT)
        self.cfg.set("workers", int(setting("PYTHON_WORKERS", "1")))
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("threads", int(setting("PYTHON_THREADS", "8")))
        # A call may take as long as FUNC_TIMEOUT allows; the proxy times it out.
        self.cfg.set("timeout", 0)
        self.cfg.set("graceful_timeout", int(setting("SHUTDOWN_TIMEOUT", "10")))
        self.cfg.set("keepalive", 5)
        self.cfg.set("accesslog", None)
        self.cfg.set("loglevel", "warning")

    def load(self):
        return logged(app)


if __name__ == "__main__":
    Server().run()

# Test function for KubelessRuntimeTests: its behaviour depends on the path.
#   /hang      writes "hanging /hang" on stderr, then never returns
#   /fail      raises "failed on purpose"
#   /context   returns the context
#   /echo      returns the body it received and its length header, as JSON
#   other      returns "hello world"
import sys
import time


def route(event, context):
    request = event["extensions"]["request"]
    if request.path == "/hang":
        sys.stderr.write("hanging /hang\n")
        sys.stderr.flush()
        while True:
            time.sleep(1)
    if request.path == "/fail":
        raise RuntimeError("failed on purpose")
    if request.path == "/context":
        return context
    if request.path == "/echo":
        return {"data": event["data"], "content-length": request.get_header("Content-Length"),
                "transfer-encoding": request.get_header("Transfer-Encoding")}
    return "hello world"

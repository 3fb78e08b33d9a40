#!/usr/bin/env python3
"""Send exactly N HTTP/1.1 keep-alive requests over K connections, then exit.

wrk runs for a duration, not a count; the instruction-count benchmark
(benchmarks/callgrind.sh) needs a fixed number of requests so that the
difference of two runs divided by the difference in requests is the cost of
one request. This client:

- opens K connections to HOST:PORT (all of them before the first request);
- on each, sends one request, reads the whole response (Content-Length or
  chunked), then the next request: keep-alive, no pipelining;
- stops when exactly N requests have been answered in total (a shared counter
  hands out the requests, so fast connections take more);
- fails (exit 1) on any non-200 status, a closed connection, or a timeout.

Prints one JSON line: {"requests": N, "connections": K, "statuses": {...},
"elapsed_s": ..., "bytes": ...}.

Usage: fixed_requests.py --port P [--host 127.0.0.1] [--path /10b]
                         [--requests 20000] [--connections 16] [--timeout 600]
"""
import argparse
import asyncio
import json
import sys
import time


class Fail(Exception):
    pass


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status_line = lines[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise Fail(f"bad status line {status_line!r}")
    status = int(parts[1])
    length = None
    chunked = False
    close = False
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        value = value.strip()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            close = True
    body = 0
    if chunked:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                # trailers, then the empty line
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            await reader.readexactly(size + 2)
            body += size
    elif length is not None:
        if length:
            await reader.readexactly(length)
        body = length
    elif status not in (204, 304) and not (100 <= status < 200):
        raise Fail("response without Content-Length or chunked framing (would need close-delimited reading)")
    return status, body, close


def client_arg_parser(doc):
    """The options every benchmark client starts with (also idle_conns.py):
    --host, --port (required), --path; the description is doc's first line."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/10b")
    return ap


async def main():
    ap = client_arg_parser(__doc__)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=600.0, help="whole run, seconds")
    args = ap.parse_args()
    if args.requests < 0 or args.connections < 1:
        ap.error("--requests >= 0 and --connections >= 1")

    request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
               f"User-Agent: fixed-requests/1\r\nAccept: */*\r\n\r\n").encode()
    remaining = args.requests
    statuses = {}
    total_bytes = 0

    async def worker(reader, writer):
        nonlocal remaining, total_bytes
        while remaining > 0:
            remaining -= 1  # claimed before the await: single-threaded, so exact
            writer.write(request)
            try:
                status, body, close = await read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError) as e:
                raise Fail(f"connection lost: {e!r}")
            statuses[status] = statuses.get(status, 0) + 1
            total_bytes += body
            if status != 200:
                raise Fail(f"status {status}")
            if close:
                raise Fail("server closed the keep-alive connection (Connection: close)")
        writer.close()

    start = time.monotonic()
    conns = [await asyncio.open_connection(args.host, args.port) for _ in range(args.connections)]
    try:
        await asyncio.wait_for(asyncio.gather(*(worker(r, w) for r, w in conns)), args.timeout)
    except (Fail, asyncio.TimeoutError) as e:
        print(json.dumps({"error": repr(e), "statuses": statuses}), flush=True)
        sys.exit(1)
    elapsed = time.monotonic() - start
    done = sum(statuses.values())
    print(json.dumps({"requests": done, "connections": args.connections, "statuses": statuses,
                      "elapsed_s": round(elapsed, 3), "bytes": total_bytes}), flush=True)
    if done != args.requests:
        sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())

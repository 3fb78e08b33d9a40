#!/usr/bin/env python3
"""Open C keep-alive connections, send one request on each, and hold them idle.

Used by benchmarks/memory.sh to measure a server's memory with many idle
keep-alive client connections. Steps:

1. raise this process's RLIMIT_NOFILE soft limit to the hard limit;
2. open C connections to HOST:PORT, at most P at a time being opened, and on
   each send one GET and read the whole response (it must be 200 without
   `Connection: close`), then leave the connection open and idle;
3. write a JSON summary line to --ready-file (and stdout): connections open,
   responses by status, errors, seconds taken;
4. hold them until --release-file exists or --hold seconds have passed (a bound,
   so the client always ends by itself);
5. count the connections the server closed meanwhile, close all, print a final
   JSON line, and exit (1 if not every connection got its 200).

Usage: idle_conns.py --port P [--connections 10000] [--parallel 100]
                     [--path /10b] [--hold 180] --ready-file F --release-file R
"""
import asyncio
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixed_requests import client_arg_parser, read_response, Fail  # noqa: E402


async def main():
    ap = client_arg_parser(__doc__)
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--parallel", type=int, default=100)
    ap.add_argument("--hold", type=float, default=180.0)
    ap.add_argument("--open-timeout", type=float, default=300.0)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--release-file", required=True)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft < args.connections + 100:
        print(json.dumps({"error": f"RLIMIT_NOFILE {soft} is too low for {args.connections} connections"}), flush=True)
        sys.exit(1)

    request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
               f"User-Agent: idle-conns/1\r\n\r\n").encode()
    conns = []
    statuses = {}
    errors = {}
    sem = asyncio.Semaphore(args.parallel)

    async def one():
        async with sem:
            try:
                reader, writer = await asyncio.open_connection(args.host, args.port)
            except OSError as e:
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                return
            try:
                writer.write(request)
                status, _, close = await asyncio.wait_for(read_response(reader), 60)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, Fail) as e:
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                writer.close()
                return
            statuses[status] = statuses.get(status, 0) + 1
            if close:
                errors["connection-close"] = errors.get("connection-close", 0) + 1
                writer.close()
                return
            conns.append((reader, writer))

    start = time.monotonic()
    try:
        await asyncio.wait_for(asyncio.gather(*(one() for _ in range(args.connections))), args.open_timeout)
    except asyncio.TimeoutError:
        errors["open-timeout"] = 1
    summary = {"open": len(conns), "statuses": statuses, "errors": errors,
               "open_s": round(time.monotonic() - start, 2), "nofile": soft}
    with open(args.ready_file + ".tmp", "w") as f:
        f.write(json.dumps(summary) + "\n")
    os.rename(args.ready_file + ".tmp", args.ready_file)
    print(json.dumps(summary), flush=True)

    held = time.monotonic()
    while not os.path.exists(args.release_file) and time.monotonic() - held < args.hold:
        await asyncio.sleep(0.1)
    await asyncio.sleep(0)  # let EOFs already received be processed
    closed_by_server = sum(1 for r, _ in conns if r.at_eof())
    for _, w in conns:
        w.close()
    final = {"held_s": round(time.monotonic() - held, 1), "closed_by_server_while_held": closed_by_server}
    print(json.dumps(final), flush=True)
    ok = len(conns) == args.connections and not errors and closed_by_server == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    asyncio.run(main())

#!/usr/bin/env python3
"""Time from exec to the first successful proxied request, repeated.

For each run and each binary (interleaved: A B A B ..., so a slow period of
the machine hits both), this script:

1. takes t0 (CLOCK_MONOTONIC) and starts BINARY --port 0 --listen-address
   127.0.0.1 --upstream 127.0.0.1:UPSTREAM --log-format text (no child
   runtime; stdout a pipe, stderr a pipe);
2. reads stderr until the "listening on 127.0.0.1:PORT" line (t_listen);
3. sends GET /10b on a new connection, and again at once until the answer is
   200 (t_first): the first request that went through the proxy to the
   upstream and back;
4. reads, at that moment, /proc/PID/schedstat (time on CPU and time spent
   runnable but waiting for a CPU, in ns), minor/major page faults and VmHWM;
5. kills the proxy (SIGKILL) and reaps it.

The wall-clock numbers include waiting for a CPU when the machine is busy;
"on CPU" is the proxy's own CPU time up to the first answer, which noise
distorts much less; "runnable, waiting" shows how much the machine's load
added. Prints one JSON line per run, then a JSON summary per binary
(median, p90, min, max of each measure).

Usage: startup.py --upstream-port P --binary static=/path --binary dynamic=/path
                  [--runs 50] [--proxy-cpu 0]
"""
import argparse
import json
import os
import select
import signal
import socket
import statistics
import subprocess
import sys
import time

REQUEST = b"GET /10b HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: startup/1\r\n\r\n"


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def try_request(port):
    """One request on a new connection; the status code, or None if it failed."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(REQUEST)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return None
                data += chunk
            return int(data.split(b" ", 2)[1])
    except (OSError, ValueError, IndexError):
        return None


def proc_numbers(pid):
    with open(f"/proc/{pid}/schedstat") as f:
        on_cpu, waiting, _ = (int(x) for x in f.read().split())
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    minflt, majflt = int(fields[7]), int(fields[9])
    hwm = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return on_cpu, waiting, minflt, majflt, hwm


def one_run(binary, upstream_port, cpu):
    cmd = [binary, "--port", "0", "--listen-address", "127.0.0.1",
           "--upstream", f"127.0.0.1:{upstream_port}", "--log-format", "text"]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu)] + cmd  # taskset execs the proxy: same PID
    t0 = now_ns()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        buf = b""
        port = None
        deadline = time.monotonic() + 10
        while port is None:
            left = deadline - time.monotonic()
            if left <= 0 or p.poll() is not None:
                raise RuntimeError(f"no 'listening on' line: {buf[-300:]!r}")
            r, _, _ = select.select([p.stderr], [], [], left)
            if r:
                chunk = os.read(p.stderr.fileno(), 4096)
                if not chunk:
                    continue
                buf += chunk
                for line in buf.split(b"\n"):
                    if b"listening on " in line:
                        port = int(line.split(b"listening on ", 1)[1].split(b",")[0].rsplit(b":", 1)[1])
                        break
        t_listen = now_ns()
        attempts = 0
        while True:
            attempts += 1
            status = try_request(port)
            if status == 200:
                break
            if attempts > 10000 or time.monotonic() > deadline:
                raise RuntimeError(f"no 200 through the proxy (last status {status})")
        t_first = now_ns()
        on_cpu, waiting, minflt, majflt, hwm = proc_numbers(p.pid)
    finally:
        p.send_signal(signal.SIGKILL)
        p.communicate()
    return {"listen_ms": (t_listen - t0) / 1e6, "first_200_ms": (t_first - t0) / 1e6,
            "on_cpu_ms": on_cpu / 1e6, "runnable_waiting_ms": waiting / 1e6,
            "minflt": minflt, "majflt": majflt, "vmhwm_kib": hwm, "attempts": attempts}


def pct(values, q):
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--binary", action="append", required=True, help="name=path")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--proxy-cpu", type=int, default=None)
    args = ap.parse_args()
    binaries = [b.split("=", 1) for b in args.binary]
    results = {name: [] for name, _ in binaries}
    for name, path in binaries:  # one unmeasured run each: page cache, first exec
        one_run(path, args.upstream_port, args.proxy_cpu)
    for i in range(args.runs):
        for name, path in binaries:
            r = one_run(path, args.upstream_port, args.proxy_cpu)
            r.update(binary=name, run=i + 1)
            results[name].append(r)
            print(json.dumps(r), flush=True)
    for name, rows in results.items():
        summary = {"binary": name, "runs": len(rows)}
        for key in ("listen_ms", "first_200_ms", "on_cpu_ms", "runnable_waiting_ms", "minflt", "majflt", "vmhwm_kib"):
            vals = [r[key] for r in rows]
            summary[key] = {"median": round(statistics.median(vals), 3), "p90": round(pct(vals, 0.9), 3),
                            "min": round(min(vals), 3), "max": round(max(vals), 3)}
        print("SUMMARY " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    sys.exit(main())

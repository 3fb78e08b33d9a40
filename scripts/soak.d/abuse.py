# scripts/soak.d/abuse.py - the abusive client of scripts/soak.
# scripts/soak (run_phase) starts it in the background for the whole load of a phase:
#   python3 scripts/soak.d/abuse.py 127.0.0.1 PROXY_PORT DIR/stop 100000000 HEADER_TIMEOUT \
#     > DIR/abuse.json 2> DIR/abuse.err
# (SOAK_ABUSE_SKIP and SOAK_SEED from the environment), creates DIR/stop when the
# wrk runs are over, waits for it, and scripts/soak.d/analyze.py reads DIR/abuse.json.
"""Abusive clients for scripts/soak: one action every ~4 ms until STOP_FILE
exists (or MAX_ACTIONS). Each answer is checked; a wrong one counts in
"unexpected" and the first ten are kept in "samples". Prints JSON counts,
with the access-log lines the actions must produce (by status) and how many
requests reach the upstream ("proxied").
  abuse.py HOST PORT STOP_FILE MAX_ACTIONS HEADER_TIMEOUT"""
import json, os, random, socket, struct, sys, time

host, port, stop_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
max_actions, header_timeout = int(sys.argv[4]), float(sys.argv[5])
counts, samples, expected_log = {}, [], {}
proxied = 0
H = b"Host: soak\r\nUser-Agent: soak-abuse\r\n"

def count(name, n=1):
    counts[name] = counts.get(name, 0) + n

def log_line(status, n=1):
    expected_log[str(status)] = expected_log.get(str(status), 0) + n

def unexpected(kind, got):
    count("unexpected")
    if len(samples) < 10:
        samples.append({"kind": kind, "got": got[:300].decode("latin-1")})

def connect():
    s = socket.create_connection((host, port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s

def read_all(s):
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return data

def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()

def refused(kind, request, status):
    # A request the proxy refuses itself: one answer with the status, then close.
    s = connect()
    s.sendall(request)
    data = read_all(s)
    s.close()
    if data.startswith(b"HTTP/1.1 %d " % status) and data.count(b"HTTP/1.1 ") == 1:
        log_line(status)
    else:
        unexpected(kind, data)

def malformed():
    refused("malformed", b"GET /a\tb HTTP/1.1\r\n" + H + b"\r\n", 400)

def smuggle():
    refused("smuggle", b"POST /post HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /10b HTTP/1.1\r\nHost: x\r\n\r\n", 400)

def big_head():
    refused("big_head", b"GET /10b HTTP/1.1\r\n" + H + b"X-Big: " + b"x" * 33000 + b"\r\n\r\n", 431)

def connect_close():
    connect().close()

def connect_reset():
    reset(connect())

def half_head():
    s = connect()
    s.sendall(b"GET /10b HTTP/1.1\r\nHost: soak\r\nX-Half: ")
    s.close()

def mid_body():
    # The head goes upstream (which waits for the whole body), then the client
    # leaves: logged as 499.
    global proxied
    s = connect()
    s.sendall(b"POST /post HTTP/1.1\r\n" + H + b"Content-Length: 65536\r\n\r\n" + b"m" * 1000)
    time.sleep(0.01)
    reset(s)
    proxied += 1
    log_line(499)

def pipelined():
    global proxied
    s = connect()
    get = b"GET /10b HTTP/1.1\r\n" + H
    s.sendall(get + b"\r\n" + b"HEAD /64k HTTP/1.1\r\n" + H + b"\r\n" + get + b"Connection: close\r\n\r\n")
    data = read_all(s)
    s.close()
    proxied += 3
    if data.count(b"HTTP/1.1 200 ") == 3 and data.endswith(b"\r\n\r\n0123456789") and len(data) < 2000:
        log_line(200, 3)
    else:
        unexpected("pipelined", data)

def half_close():
    # A request, then the client's FIN: the response still comes, then the proxy closes.
    global proxied
    s = connect()
    s.sendall(b"GET /10b HTTP/1.1\r\n" + H + b"\r\n")
    s.shutdown(socket.SHUT_WR)
    data = read_all(s)
    s.close()
    proxied += 1
    if data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"\r\n\r\n0123456789"):
        log_line(200)
    else:
        unexpected("half_close", data)

def close_before_502():
    # A request the upstream fails (nginx closes without answering: 502), and the
    # client closes before the answer. The proxy must close the connection too.
    global proxied
    s = connect()
    s.sendall(b"GET /444 HTTP/1.1\r\n" + H + b"\r\n")
    s.close()
    proxied += 1
    log_line(502)

slowloris = []   # (socket, when its partial head was sent)
def slowloris_open():
    s = connect()
    s.sendall(b"GET /10b HTTP/1.1\r\nHost: soak\r\n")
    slowloris.append((s, time.monotonic()))

def slowloris_check(everything=False):
    while slowloris and (everything or time.monotonic() - slowloris[0][1] > header_timeout + 1):
        s, _ = slowloris.pop(0)
        data = read_all(s)
        s.close()
        if data.startswith(b"HTTP/1.1 408 "):
            count("slowloris")
            log_line(408)
        else:
            unexpected("slowloris", data)

actions = [(malformed, 3), (smuggle, 2), (big_head, 1), (connect_close, 3), (connect_reset, 3),
           (half_head, 3), (mid_body, 2), (pipelined, 3), (half_close, 2), (close_before_502, 1)]
skip = set(filter(None, os.environ.get("SOAK_ABUSE_SKIP", "").split(",")))
pool = [a for a, w in actions for _ in range(w) if a.__name__ not in skip]
random.seed(int(os.environ.get("SOAK_SEED", "1")))
done, last_slowloris = 0, 0.0
while done < max_actions and not os.path.exists(stop_file):
    action = random.choice(pool)
    try:
        action()
        count(action.__name__)
    except OSError as e:
        unexpected(action.__name__, repr(e).encode())
    done += 1
    if "slowloris" not in skip and time.monotonic() - last_slowloris > 1 and len(slowloris) < 8:
        try:
            slowloris_open()
        except OSError as e:
            unexpected("slowloris", repr(e).encode())
        last_slowloris = time.monotonic()
    slowloris_check()
    time.sleep(0.004)
slowloris_check(everything=True)
print(json.dumps({"actions": done, "proxied": proxied, "counts": counts,
                  "expected_log": expected_log, "samples": samples}, sort_keys=True))

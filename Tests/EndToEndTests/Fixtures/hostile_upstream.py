#!/usr/bin/python3
"""A recording, misbehaving upstream on raw sockets; what it does depends on
the request path (no mode argument). Built on raw_upstream.py's protocol
(what the two share is in upstream_common.py).

Prints "READY <port>" once listening, then one line per event:
  CONN <n>                  a connection was accepted
  DATA <n> <hex>            bytes received on connection n (every read)
  REQUEST <n> <line>        a whole request (head and body) was received
  EOF <n>                   the peer closed connection n (or reset it)
  CUT <n> <what> <count>    writing <what> failed after <count> units: the proxy dropped it
  DONE <n> <what> <count>   all <count> units of <what> were written
  SENTINEL                  see below
A connection whose first bytes are "SENTINEL" makes it read whatever is
pending on every other socket (printing DATA and EOF), then print "SENTINEL":
after that line, every byte the proxy sent before is in the output.

Paths (anything else: 200 "ok", keep-alive):
  /garbage        bytes that are not HTTP instead of a status line
  /no-status      an HTTP/0.9-style answer: a body with no head
  /double         a whole response and a second one, in one write
  /double-later   a whole response; 0.1 s later a second one (prints EXTRA <n>)
  /early          413 as soon as the head arrives, before the body (prints EARLY <n>)
  /flood-1xx      20,000 "103 Early Hints" responses, then nothing
  /endless-headers  a status line, then 1 MiB of header fields, then nothing
  /endless-value  a status line, then a 1 MiB header value without end
  /cl-te          a response with Content-Length and Transfer-Encoding: chunked
  /two-cl         a response with two different Content-Lengths
  /fold           a response with an obs-fold header line
  /nul            a response with a NUL in a header value
  /switch         101 Switching Protocols to a request that asked for no upgrade
  /switch-no-upgrade  a 101 without Upgrade/Connection: upgrade, a "body" that reads as a response
"""
import time

from upstream_common import OK, Upstream, bound_listener, say

SECOND = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nsmuggle"
FIXED = {
    "/garbage": b"THIS IS NOT HTTP\r\n\r\n",
    "/no-status": b"hello from 1991\n",
    "/double": OK + SECOND,
    "/cl-te": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    "/two-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nok",
    "/fold": b"HTTP/1.1 200 OK\r\nX-Fold: first\r\n  second\r\nContent-Length: 2\r\n\r\nok",
    "/nul": b"HTTP/1.1 200 OK\r\nX-Nul: a\x00b\r\nContent-Length: 2\r\n\r\nok",
    "/switch": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nRAW TUNNEL BYTES",
    "/switch-no-upgrade": b"HTTP/1.1 101 Switching Protocols\r\nContent-Length: 44\r\n\r\n"
                          b"HTTP/1.1 200 Injected\r\nContent-Length: 0\r\n\r\n",
}


def request_end(buffer):
    """(head, path, end of the whole request) or None while incomplete;
    end is None when the head is complete but the body is not."""
    if b"\r\n\r\n" not in buffer:
        return None
    head, _, rest = buffer.partition(b"\r\n\r\n")
    head_length = len(head) + 4
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    path = parts[1].decode("latin-1") if len(parts) > 1 else ""
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip().lower()
    if fields.get(b"transfer-encoding") == b"chunked":
        offset = 0
        while True:
            line_end = rest.find(b"\r\n", offset)
            if line_end < 0:
                return head, path, None
            try:
                size = int(rest[offset:line_end].split(b";")[0], 16)
            except ValueError:
                return head, path, None
            if size == 0:
                if rest.find(b"\r\n", line_end + 2) != line_end + 2:
                    return head, path, None
                return head, path, head_length + line_end + 4
            offset = line_end + 2 + size + 2
            if offset > len(rest):
                return head, path, None
    length = int(fields.get(b"content-length", b"0") or 0)
    if len(rest) < length:
        return head, path, None
    return head, path, head_length + length


def write_units(sock, number, what, chunks):
    """Writes each chunk of (bytes, units) in turn; says how many units went out."""
    sent = 0
    try:
        for chunk, units in chunks:
            sock.sendall(chunk)
            sent += units
    except OSError:
        say(f"CUT {number} {what} {sent}")
        return False
    say(f"DONE {number} {what} {sent}")
    return True


def flood_1xx():
    hint = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    for _ in range(200):
        yield hint * 100, 100


def endless_fields():
    yield b"HTTP/1.1 200 OK\r\n", 0
    for batch in range(128):
        yield b"".join(b"X-Pad-%06d: %s\r\n" % (batch * 64 + i, b"p" * 110) for i in range(64)), 64


def endless_value():
    yield b"HTTP/1.1 200 OK\r\nX-Pad: ", 0
    for _ in range(64):
        yield b"v" * 16384, 16


def main():
    listener, port = bound_listener()
    listener.listen(64)
    say(f"READY {port}")
    upstream = Upstream(listener)
    buffers = upstream.buffers
    answered_early = {}  # socket -> the 413 of /early went out for the request being read

    def respond(sock, number, path):
        if path in FIXED:
            sock.sendall(FIXED[path])
        elif path == "/double-later":
            sock.sendall(OK)
            time.sleep(0.1)
            sock.sendall(SECOND)
            say(f"EXTRA {number}")
        elif path == "/flood-1xx":
            if not write_units(sock, number, "1xx", flood_1xx()):
                upstream.drop(sock)
        elif path == "/endless-headers":
            if not write_units(sock, number, "fields", endless_fields()):
                upstream.drop(sock)
        elif path == "/endless-value":
            if not write_units(sock, number, "KiB", endless_value()):
                upstream.drop(sock)
        else:
            sock.sendall(OK)

    def received(sock, data):
        number = upstream.sockets[sock]
        say(f"DATA {number} {data.hex()}")
        buffers[sock] += data
        while sock in upstream.sockets:
            parsed = request_end(buffers[sock])
            if parsed is None:
                break
            head, path, end = parsed
            if path == "/early" and not answered_early.get(sock, False):
                answered_early[sock] = True
                sock.sendall(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\n\r\ntoo large")
                say(f"EARLY {number}")
            if end is None:
                break
            buffers[sock] = buffers[sock][end:]
            line = head.split(b"\r\n")[0].decode("latin-1")
            say(f"REQUEST {number} {line}")
            if path != "/early":
                respond(sock, number, path)
            answered_early[sock] = False

    upstream.serve(received)


if __name__ == "__main__":
    main()

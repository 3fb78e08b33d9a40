#!/usr/bin/python3
"""A misbehaving upstream on raw sockets; the mode is argv[1].

Every mode prints "READY <port>" on stdout once listening, then one line per
event: "CONN <n>" on accept, "REQUEST <n> <request line>" per request head
received, "EOF <n>" when the peer closes.

  record        answers nothing but "GET /warm" (200, keep-alive); prints
                "DATA <n> <hex>" for every read of bytes received.
                A connection whose first bytes are "SENTINEL" makes it read
                whatever is pending on every other socket, then print "SENTINEL".
  silent        reads and discards, never writes
  garbage       answers each request head with bytes that are not HTTP
  half-body     sends a head with Content-Length: 100 and 50 bytes, then closes
  close-after   answers each connection's first request (keep-alive), then closes it
  close-on-second  answers a connection's first request (keep-alive); on its
                second request, closes without answering
  stall-chunked sends a chunked head and one chunk "hello", then stalls
  reset-first   resets the first connection (SO_LINGER 0) when its first
                request head arrives, as a runtime killed before reading it
                does; answers every later request (keep-alive)
  backlog       listens with backlog 0, never accepts, and fills the accept
                queue with its own connections before READY
  head-then-body  answers each request with a head (Content-Length: 5), prints
                "HEAD <n>", and sends the body "hello" a second later
  switch        answers each request head with a 101 chosen by its path, then
                echoes every byte the connection sends: /ws (websocket, the
                right Sec-WebSocket-Accept), /ws-wrong-accept, /ws-no-accept,
                /other (Upgrade: other/1); any other path gets 200
"""
import base64, hashlib, select, socket, struct, sys, threading

from upstream_common import OK, Upstream, bound_listener, say

MODE = sys.argv[1]


def main():
    listener, port = bound_listener()
    if MODE == "backlog":
        listener.listen(0)
        fillers = []
        for _ in range(4):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        say(f"READY {port}")
        select.select([], [], [])  # forever, never accepting
        return
    listener.listen(64)
    say(f"READY {port}")
    upstream = Upstream(listener)
    buffers = upstream.buffers  # socket -> bytes not yet part of a whole request head
    served = {}                 # socket -> request heads seen on it

    def record(sock, data):
        say(f"DATA {upstream.sockets[sock]} {data.hex()}")
        if data.startswith(b"GET /warm "):
            sock.sendall(OK)

    switched = set()

    def answer(sock, data):
        if sock in switched:
            sock.sendall(data)
            return
        buffers[sock] += data
        while sock in upstream.sockets and b"\r\n\r\n" in buffers[sock]:
            head, _, rest = buffers[sock].partition(b"\r\n\r\n")
            buffers[sock] = rest
            served[sock] = served.get(sock, 0) + 1
            line = head.split(b"\r\n")[0].decode("latin-1")
            say(f"REQUEST {upstream.sockets[sock]} {line}")
            if MODE == "switch":
                if switch(sock, head):
                    switched.add(sock)
                    if buffers[sock]:
                        sock.sendall(buffers[sock])
                    return
                continue
            respond(sock, served[sock], upstream)

    if MODE == "record":
        upstream.serve(record)
    elif MODE == "silent":
        upstream.serve(lambda sock, data: None, sentinel=False)
    else:
        upstream.serve(answer, sentinel=False)


WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def switch(sock, head):
    """Sends the 101 the request's path asks for; True if it sent one."""
    lines = head.split(b"\r\n")
    path = lines[0].split(b" ")[1]
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip()
    accept = base64.b64encode(hashlib.sha1(fields.get(b"sec-websocket-key", b"") + WEBSOCKET_GUID).digest())
    extra = {
        b"/ws": b"Upgrade: websocket\r\nSec-WebSocket-Accept: " + accept + b"\r\n",
        b"/ws-wrong-accept": b"Upgrade: websocket\r\nSec-WebSocket-Accept: " + base64.b64encode(b"x" * 20) + b"\r\n",
        b"/ws-no-accept": b"Upgrade: websocket\r\n",
        b"/other": b"Upgrade: other/1\r\n",
    }.get(path)
    if extra is None:
        sock.sendall(OK)
        return False
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n" + extra + b"\r\n")
    return True


def respond(sock, number, upstream):
    drop = upstream.drop
    if MODE == "garbage":
        sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
    elif MODE == "half-body":
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 50)
        drop(sock)
    elif MODE == "close-after":
        sock.sendall(OK)
        drop(sock)
    elif MODE == "close-on-second":
        if number == 1:
            sock.sendall(OK)
        else:
            drop(sock)
    elif MODE == "reset-first":
        if upstream.sockets[sock] == 1:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            drop(sock)
        else:
            sock.sendall(OK)
    elif MODE == "head-then-body":
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        say(f"HEAD {number}")
        threading.Timer(1.0, lambda: sock.sendall(b"hello")).start()
    elif MODE == "stall-chunked":
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")


if __name__ == "__main__":
    main()

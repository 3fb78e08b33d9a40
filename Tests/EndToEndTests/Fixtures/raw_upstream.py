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
  backlog       listens with backlog 0, never accepts, and fills the accept
                queue with its own connections before READY
"""
import select, socket, sys

MODE = sys.argv[1]
OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


def say(text):
    print(text, flush=True)


def main():
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
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
    sockets = {}      # socket -> connection number
    buffers = {}      # socket -> bytes not yet part of a whole request head
    served = {}       # socket -> request heads seen on it
    count = 0

    def drop(sock):
        say(f"EOF {sockets.pop(sock)}")
        buffers.pop(sock, None)
        sock.close()

    def accept():
        nonlocal count
        sock, _ = listener.accept()
        count += 1
        sockets[sock] = count
        buffers[sock] = b""
        served[sock] = 0
        say(f"CONN {count}")

    def drain_all(except_sock):
        listener.setblocking(False)
        try:
            while True:
                accept()
        except BlockingIOError:
            pass
        listener.setblocking(True)
        for sock in list(sockets):
            if sock is except_sock:
                continue
            sock.setblocking(False)
            try:
                while True:
                    data = sock.recv(65536)
                    if not data:
                        drop(sock)
                        break
                    say(f"DATA {sockets[sock]} {data.hex()}")
            except BlockingIOError:
                sock.setblocking(True)

    while True:
        readable, _, _ = select.select([listener] + list(sockets), [], [])
        for sock in readable:
            if sock is listener:
                accept()
                continue
            if sock not in sockets:
                continue
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                drop(sock)
                continue
            if MODE == "record":
                if buffers[sock] == b"" and data.startswith(b"SENTINEL"):
                    drain_all(sock)
                    say("SENTINEL")
                    buffers[sock] = b"sentinel"
                elif buffers[sock] != b"sentinel":
                    say(f"DATA {sockets[sock]} {data.hex()}")
                    if data.startswith(b"GET /warm "):
                        sock.sendall(OK)
                continue
            if MODE == "silent":
                continue
            buffers[sock] += data
            while sock in sockets and b"\r\n\r\n" in buffers[sock]:
                head, _, rest = buffers[sock].partition(b"\r\n\r\n")
                buffers[sock] = rest
                served[sock] += 1
                line = head.split(b"\r\n")[0].decode("latin-1")
                say(f"REQUEST {sockets[sock]} {line}")
                respond(sock, served[sock], drop)


def respond(sock, number, drop):
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
    elif MODE == "stall-chunked":
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")


if __name__ == "__main__":
    main()

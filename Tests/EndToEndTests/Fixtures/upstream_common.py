"""What raw_upstream.py and hostile_upstream.py share (imported from the
script's own directory, which python3 puts first on sys.path): the listener,
the connection table, the SENTINEL drain and the read loop.

Events printed on stdout, one line each:
  CONN <n>         a connection was accepted
  DATA <n> <hex>   bytes received on connection n (by the caller, and by the drain)
  EOF <n>          the peer closed connection n (or reset it)
  SENTINEL         see `Upstream.serve`
"""
import select, socket

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


def say(text):
    print(text, flush=True)


def bound_listener():
    """A TCP socket bound to a free port on 127.0.0.1 (not listening yet), and the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    return listener, listener.getsockname()[1]


class Upstream:
    """The accepted connections of a listening socket: each one's number
    (`sockets`) and the bytes received and not used yet (`buffers`; None once
    it was the SENTINEL connection)."""

    def __init__(self, listener):
        self.listener = listener
        self.sockets = {}   # socket -> connection number
        self.buffers = {}   # socket -> bytes not used yet
        self.count = 0

    def accept(self):
        sock, _ = self.listener.accept()
        self.count += 1
        self.sockets[sock] = self.count
        self.buffers[sock] = b""
        say(f"CONN {self.count}")

    def drop(self, sock):
        if sock in self.sockets:
            say(f"EOF {self.sockets.pop(sock)}")
            self.buffers.pop(sock, None)
        sock.close()

    def drain_all(self, except_sock):
        """Accepts every pending connection and reads whatever is pending on
        every socket but `except_sock` (printing DATA and EOF)."""
        self.listener.setblocking(False)
        try:
            while True:
                self.accept()
        except BlockingIOError:
            pass
        self.listener.setblocking(True)
        for sock in list(self.sockets):
            if sock is except_sock:
                continue
            sock.setblocking(False)
            try:
                while True:
                    data = sock.recv(65536)
                    if not data:
                        self.drop(sock)
                        break
                    say(f"DATA {self.sockets[sock]} {data.hex()}")
            except BlockingIOError:
                sock.setblocking(True)
            except OSError:
                self.drop(sock)

    def serve(self, on_data, sentinel=True):
        """Accepts and reads forever; `on_data(sock, data)` gets every read of
        a connection (EOF and resets are handled here). With `sentinel`, a
        connection whose first bytes are "SENTINEL" makes it read whatever is
        pending on every other socket, then print "SENTINEL": after that
        line, every byte sent to it before is in the output. The SENTINEL
        connection's later bytes are ignored."""
        while True:
            readable, _, _ = select.select([self.listener] + list(self.sockets), [], [])
            for sock in readable:
                if sock is self.listener:
                    self.accept()
                    continue
                if sock not in self.sockets:
                    continue
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.drop(sock)
                    continue
                if sentinel:
                    if self.buffers[sock] == b"" and data.startswith(b"SENTINEL"):
                        self.drain_all(sock)
                        say("SENTINEL")
                        self.buffers[sock] = None
                        continue
                    if self.buffers[sock] is None:
                        continue
                on_data(sock, data)

#!/usr/bin/env python3
"""Writes the seed corpora in Fuzz/Corpus/<target>/ (committed; run again after
editing this file). Each seed is one options byte (see the harness of the
target, in Sources/FuzzSupport/) followed by the input proper."""
import os

here = os.path.dirname(os.path.abspath(__file__))

# Request options: bits 0-2 read size (1 2 3 5 8 13 64 512), bit 3 and bit 6 pause
# before even/odd bodies, bits 4-5 head limits (0: defaults).
R = {
    "get": (0x00, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
    "get-query-fields": (0x01, b"GET /a/b?c=d&e=%20f HTTP/1.1\r\nHost: h\r\nUser-Agent: curl/8\r\nAccept: */*\r\nX-Request-Id: abc-123\r\nX-Request-Timeout: 1.5\r\n\r\n"),
    "post-content-length": (0x02, b"POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world"),
    "post-chunked-trailers": (0x03, b"POST /f HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"),
    "pipelined": (0x04, b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: h\r\n\r\n"),
    "pipelined-admission": (0x4C, b"POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhiPOST /2 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nyo\r\n0\r\n\r\nGET /3 HTTP/1.1\r\nHost: h\r\n\r\n"),
    "upgrade-websocket": (0x05, b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x05hello"),
    "upgrade-with-body": (0x06, b"POST /up HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nContent-Length: 4\r\n\r\nbodyPRI * HTTP/2.0\r\n"),
    "connect": (0x07, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01"),
    "http10-keep-alive": (0x00, b"GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /old2 HTTP/1.0\r\n\r\n"),
    "http10-post": (0x01, b"POST /x HTTP/1.0\r\nContent-Length: 2\r\n\r\nok"),
    "head": (0x02, b"HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n"),
    "expect-continue": (0x03, b"PUT /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\ndata"),
    "smuggle-cl-te": (0x04, b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: h\r\n\r\n"),
    "smuggle-two-cl": (0x05, b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc"),
    "smuggle-te-identity": (0x06, b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
    "smuggle-te-space": (0x07, b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
    "smuggle-obs-fold": (0x00, b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n"),
    "smuggle-bare-lf": (0x01, b"GET / HTTP/1.1\nHost: h\nContent-Length: 1\n\nxGET / HTTP/1.1\r\n\r\n"),
    "smuggle-chunk-size-overflow": (0x02, b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\nx\r\n0\r\n\r\n"),
    "smuggle-te-gzip-chunked": (0x03, b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n"),
    "smuggle-cl-plus": (0x04, b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc"),
    "smuggle-nul-value": (0x05, b"GET / HTTP/1.1\r\nHost: h\x00evil\r\n\r\n"),
    "smuggle-connection-named-fields": (0x06, b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret, Host\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\n\r\n"),
    "absolute-form": (0x07, b"GET http://example.com/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n"),
    "options-asterisk": (0x00, b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"),
    "x-forwarded": (0x01, b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: outer\r\n\r\n"),
    "content-length-zero-pipelined": (0x02, b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\nDELETE /b HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"),
    "limits-long-target": (0x10, b"GET /" + b"a" * 40 + b" HTTP/1.1\r\nHost: h\r\n\r\n"),
    "limits-many-fields": (0x20, b"GET / HTTP/1.1\r\n" + b"".join(b"X-F%d: v\r\n" % i for i in range(20)) + b"\r\n"),
    "limits-big-field": (0x30, b"GET / HTTP/1.1\r\nHost: h\r\nCookie: " + b"c" * 1100 + b"\r\n\r\n"),
    "invalid-method": (0x03, b"G@T / HTTP/1.1\r\n\r\n"),
    "invalid-version": (0x04, b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"),
    "chunked-then-get": (0x05, b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n"),
    "patch-lowercase-fields": (0x06, b"PATCH /p HTTP/1.1\r\nhost: h\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"),
    "cut-short-body": (0x07, b"POST /cut HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nonly part"),
}

# Response options: bits 0-2 read size, bit 3 request was HEAD, bit 4 client HTTP/1.0,
# bit 5 request asked to upgrade, bit 6 client wants no keep-alive, bit 7 small limits.
S = {
    "200-content-length": (0x00, b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"),
    "200-chunked-trailers": (0x01, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nwiki\r\n5\r\npedia\r\n0\r\nExpires: never\r\n\r\n"),
    "200-close-delimited": (0x02, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>until close</html>"),
    "200-close-delimited-http10-client": (0x12, b"HTTP/1.0 200 OK\r\n\r\nbody until close"),
    "204-with-length": (0x03, b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    "304": (0x04, b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nTransfer-Encoding: chunked\r\n\r\n"),
    "100-continue-then-200": (0x05, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    "103-early-hints": (0x06, b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    "100-to-http10-client": (0x17, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx"),
    "101-upgrade": (0x27, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi"),
    "http10-keep-alive": (0x00, b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc"),
    "head-with-length": (0x09, b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    "head-chunked": (0x0A, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
    "keep-alive-two": (0x0B, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"),
    "smuggle-cl-te": (0x0C, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    "smuggle-two-cl": (0x0D, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
    "te-gzip-not-chunked": (0x0E, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nrawbytes"),
    "set-cookie-many": (0x0F, b"HTTP/1.1 302 Found\r\nLocation: /x\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2; Path=/\r\nContent-Length: 0\r\n\r\n"),
    "status-999": (0x00, b"HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n"),
    "status-000": (0x01, b"HTTP/1.1 000 Zero\r\nContent-Length: 0\r\n\r\n"),
    "connection-close": (0x02, b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n"),
    "connection-named-fields": (0x03, b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n"),
    "empty-reason": (0x04, b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"),
    "invalid-status-line": (0x05, b"HTTP/1.1 2000 OK\r\n\r\n"),
    "big-headers-small-limits": (0x86, b"HTTP/1.1 200 OK\r\nX-Big: " + b"b" * 300 + b"\r\nContent-Length: 0\r\n\r\n"),
    "no-keep-alive-client": (0x47, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
    "chunked-no-keep-alive-http10": (0x50, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
    "101-not-asked": (0x01, b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\ntunnel"),
    "cut-short-chunked": (0x02, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly"),
    "x-request-id": (0x03, b"HTTP/1.1 200 OK\r\nX-Request-Id: upstream-id\r\nContent-Length: 0\r\n\r\n"),
}

# Config options: byte 0 % 4 picks milliseconds, buckets, upstream, listen address.
C = {
    "ms-int": b"\x0030", "ms-fraction": b"\x000.25", "ms-tiny": b"\x000.0001", "ms-exp": b"\x001e3",
    "ms-big": b"\x00999999999.9", "ms-dots": b"\x001.2.3", "ms-hex": b"\x000x10",
    "buckets-default": b"\x010.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10",
    "buckets-spaces": b"\x01 0.1 , 1 ,10", "buckets-descending": b"\x011,0.5", "buckets-empty-part": b"\x011,,2",
    "upstream-ipv4": b"\x02127.0.0.1:8090", "upstream-ipv6": b"\x02[::1]:8090", "upstream-localhost": b"\x02localhost:80",
    "upstream-unix": b"\x02unix:/run/runtime.sock", "upstream-path": b"\x02/tmp/s", "upstream-bad-v6": b"\x02::1:8090",
    "upstream-port-0": b"\x02127.0.0.1:0", "upstream-mapped": b"\x02[::ffff:127.0.0.1]:1",
    "listen-any": b"\x030.0.0.0", "listen-v6": b"\x03[::]", "listen-bad": b"\x03300.1.1.1",
}

def write(target, seeds):
    folder = os.path.join(here, "Corpus", target)
    os.makedirs(folder, exist_ok=True)
    for old in os.listdir(folder):
        os.remove(os.path.join(folder, old))
    for name, seed in seeds.items():
        data = bytes([seed[0]]) + seed[1] if isinstance(seed, tuple) else seed
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)

write("FuzzRequestParser", R)
write("FuzzResponseParser", S)
write("FuzzConfigParsing", C)

import Testing
@testable import ProxyHTTP

/// The heads the proxy writes, compared whole as text.
@Suite struct HeadWriterTests {
    /// `writeRequest` for the head of `text`, framed as BodyFraming decides unless told.
    private func request(_ text: String, framing: BodyFraming? = nil, client: String = "127.0.0.1", scheme: String = "http",
                         extra: String = "", consumedField: StaticString? = nil) -> String {
        let head = parseHead(text, consumedField: consumedField)
        var out = bytes("left over from before")
        HeadWriter.writeRequest(head, framing: framing ?? BodyFraming.forRequest(head),
                                forwarding: .init(clientAddress: bytes(client), scheme: bytes(scheme)), extraFields: bytes(extra), into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `writeResponse` for the head of `text`.
    private func response(_ text: String, framing: BodyFraming, keepAlive: Bool = true, clientIsHTTP10: Bool = false,
                          extra: String = "", consumedField: StaticString? = nil) -> String {
        var out = bytes("left over from before")
        HeadWriter.writeResponse(parseHead(text, kind: .response, consumedField: consumedField), framing: framing, keepAlive: keepAlive, clientIsHTTP10: clientIsHTTP10,
                                 extraFields: bytes(extra), into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private let forwarded = "X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: http\r\n"

    // MARK: writeRequest

    // Hop-by-hop fields are dropped; end-to-end ones travel in order; X-Forwarded-* are added; Host is kept.
    @Test func requestDropsHopByHopFields() {
        let out = request("GET /path?q=1 HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
            + "TE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic abc\r\n"
            + "Accept: */*\r\nUser-Agent: t\r\n\r\n")
        #expect(out == "GET /path?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nUser-Agent: t\r\n"
            + forwarded + "X-Forwarded-Host: example.com\r\n\r\n")
    }

    // Fields named by Connection (any case, in any Connection field) are dropped too.
    @Test func requestDropsFieldsNamedByConnection() {
        let out = request("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret\r\nX-Secret: s\r\nx-secret: t\r\n"
            + "X-Public: p\r\nConnection: x-other\r\nX-Other: o\r\n\r\n")
        #expect(out == "GET / HTTP/1.1\r\nHost: a\r\nX-Public: p\r\n" + forwarded + "X-Forwarded-Host: a\r\n\r\n")
    }

    // X-Forwarded-For: the client address is appended to every earlier value, in order.
    @Test func requestAppendsToForwardedFor() {
        let one = request("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\nAccept: x\r\n\r\n")
        #expect(one == "GET / HTTP/1.1\r\nHost: a\r\nAccept: x\r\nX-Forwarded-For: 1.2.3.4, 127.0.0.1\r\n"
            + "X-Forwarded-Proto: http\r\nX-Forwarded-Host: a\r\n\r\n")
        let two = request("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\nx-forwarded-for: 5.6.7.8, 9.9.9.9\r\n\r\n")
        #expect(two == "GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4, 5.6.7.8, 9.9.9.9, 127.0.0.1\r\n"
            + "X-Forwarded-Proto: http\r\nX-Forwarded-Host: a\r\n\r\n")
    }

    // X-Forwarded-Proto and X-Forwarded-Host set by an earlier proxy are kept in place and not added again.
    @Test func requestKeepsEarlierForwardedProtoAndHost() {
        let out = request("GET / HTTP/1.1\r\nHost: inner\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: outer.example\r\n\r\n")
        #expect(out == "GET / HTTP/1.1\r\nHost: inner\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: outer.example\r\n"
            + "X-Forwarded-For: 127.0.0.1\r\n\r\n")
    }

    // An HTTP/1.0 request goes upstream as HTTP/1.1 with the empty Host RFC 9112 3.2 asks for; no X-Forwarded-Host.
    @Test func requestFromHTTP10BecomesHTTP11() {
        let out = request("GET /old HTTP/1.0\r\nAccept: x\r\n\r\n")
        #expect(out == "GET /old HTTP/1.1\r\nAccept: x\r\nHost: \r\n" + forwarded + "\r\n")
    }

    // A chunked request is written with exactly one Transfer-Encoding: chunked, this hop's own.
    @Test func requestChunkedFramingAddsOneTransferEncoding() {
        let out = request("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Type: b\r\n\r\n")
        #expect(out == "POST /u HTTP/1.1\r\nHost: a\r\nContent-Type: b\r\nTransfer-Encoding: chunked\r\n"
            + forwarded + "X-Forwarded-Host: a\r\n\r\n")
        #expect(out.ranges(of: "Transfer-Encoding").count == 1)
    }

    // Content-Length is end-to-end: kept as it came.
    @Test func requestKeepsContentLength() {
        let out = request("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
        #expect(out == "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n" + forwarded + "X-Forwarded-Host: a\r\n\r\n")
    }

    // An upgrade request keeps Upgrade and gets this hop's `Connection: upgrade`.
    @Test func requestUpgradeKeepsUpgrade() {
        let out = request("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n"
            + "Sec-WebSocket-Version: 13\r\n\r\n")
        #expect(out == "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n"
            + "Connection: upgrade\r\n" + forwarded + "X-Forwarded-Host: a\r\n\r\n")
    }

    // An upgrade to h2c alone goes up as a plain request: no Upgrade, no HTTP2-Settings, no Connection: upgrade.
    @Test func requestH2CUpgradeIsDropped() {
        let out = request("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            + "HTTP2-Settings: AAMAAABkAAQAAP__\r\nAccept: */*\r\n\r\n")
        #expect(out == "GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n" + forwarded + "X-Forwarded-Host: a\r\n\r\n")
    }

    // In a list, h2c is taken out and the other protocols are kept (HTTP2-Settings goes whatever the upgrade).
    @Test func requestUpgradeListLosesH2C() {
        let out = request("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: H2C, websocket ,foo\r\nUpgrade: h2c\r\n"
            + "HTTP2-Settings: x\r\n\r\n")
        #expect(out == "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket, foo\r\nConnection: upgrade\r\n" + forwarded
            + "X-Forwarded-Host: a\r\n\r\n")
    }

    // Names keep their case, values are written trimmed; extra fields and the scheme come from the caller.
    @Test func requestExtraFieldsSchemeAndTrimming() {
        let out = request("DELETE /r HTTP/1.1\r\nhost: a\r\nx-Custom-NAME:   padded \t\r\n\r\n", client: "::1", scheme: "https",
                          extra: "X-Request-Id: 42\r\n")
        #expect(out == "DELETE /r HTTP/1.1\r\nhost: a\r\nx-Custom-NAME: padded\r\nX-Forwarded-For: ::1\r\nX-Forwarded-Proto: https\r\n"
            + "X-Forwarded-Host: a\r\nX-Request-Id: 42\r\n\r\n")
    }

    // The field the parser was told its owner consumes (any case, every occurrence) is not forwarded; others are.
    @Test func requestDropsConsumedField() {
        let text = "GET / HTTP/1.1\r\nHost: a\r\nX-Deadline: 1\r\nAccept: x\r\nx-deadline: 2\r\n\r\n"
        #expect(request(text, consumedField: "x-deadline") == "GET / HTTP/1.1\r\nHost: a\r\nAccept: x\r\n" + forwarded
            + "X-Forwarded-Host: a\r\n\r\n")
        #expect(request(text) == "GET / HTTP/1.1\r\nHost: a\r\nX-Deadline: 1\r\nAccept: x\r\nx-deadline: 2\r\n" + forwarded
            + "X-Forwarded-Host: a\r\n\r\n")
    }

    // MARK: writeResponse

    // A response's consumed field is not forwarded either; without one named, it is.
    @Test func responseDropsConsumedField() {
        let text = "HTTP/1.1 200 OK\r\nX-Deadline: 1\r\nContent-Length: 0\r\n\r\n"
        #expect(response(text, framing: .contentLength, consumedField: "x-deadline")
            == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        #expect(response(text, framing: .contentLength) == "HTTP/1.1 200 OK\r\nX-Deadline: 1\r\nContent-Length: 0\r\n\r\n")
    }

    // The status line keeps the reason phrase; hop-by-hop fields and those named by Connection are dropped.
    @Test func responseDropsHopByHopFields() {
        let out = response("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive, X-Internal\r\n"
            + "Keep-Alive: timeout=5\r\nX-Internal: i\r\nProxy-Authenticate: Basic\r\nTrailer: X\r\nUpgrade: h2\r\nVary: a\r\n\r\n",
                           framing: .contentLength)
        #expect(out == "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nVary: a\r\n\r\n")
    }

    // An HTTP/1.0 upstream's response goes to the client as HTTP/1.1; an empty reason phrase stays empty.
    @Test func responseStatusLineIsHTTP11() {
        #expect(response("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", framing: .contentLength)
            == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        #expect(response("HTTP/1.1 503\r\nContent-Length: 0\r\n\r\n", framing: .contentLength)
            == "HTTP/1.1 503 \r\nContent-Length: 0\r\n\r\n")
    }

    // Chunked framing writes this hop's Transfer-Encoding once, whether upstream was chunked or close-delimited.
    @Test func responseChunkedFramingAddsTransferEncoding() {
        let chunked = response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: a\r\n\r\n", framing: .chunked)
        #expect(chunked == "HTTP/1.1 200 OK\r\nContent-Type: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        let closeDelimited = response("HTTP/1.1 200 OK\r\nContent-Type: a\r\n\r\n", framing: .chunked)
        #expect(closeDelimited == "HTTP/1.1 200 OK\r\nContent-Type: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    }

    // keepAlive false adds `Connection: close`; a kept-alive HTTP/1.0 client gets `Connection: keep-alive`.
    @Test func responseConnectionField() {
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
        #expect(response(head, framing: .contentLength, keepAlive: false) == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n")
        #expect(response(head, framing: .contentLength, keepAlive: true, clientIsHTTP10: true)
            == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n")
        #expect(response(head, framing: .contentLength, keepAlive: false, clientIsHTTP10: true)
            == "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n")
        #expect(response("HTTP/1.1 200 OK\r\n\r\n", framing: .untilClose, keepAlive: false, clientIsHTTP10: true)
            == "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        #expect(response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", framing: .chunked, keepAlive: false)
            == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    }

    // 101 keeps Upgrade and gets `Connection: upgrade`, never close or keep-alive.
    @Test func responseSwitchingProtocols() {
        let head = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: abc\r\n\r\n"
        let expected = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: abc\r\nConnection: upgrade\r\n\r\n"
        #expect(response(head, framing: .none) == expected)
        #expect(response(head, framing: .none, keepAlive: false, clientIsHTTP10: true) == expected)
    }

    // An interim 1xx gets no framing or Connection field; extra fields go last.
    @Test func responseInterimAndExtraFields() {
        #expect(response("HTTP/1.1 100 Continue\r\n\r\n", framing: .none, keepAlive: false) == "HTTP/1.1 100 Continue\r\n\r\n")
        #expect(response("HTTP/1.1 204 No Content\r\nDate: d\r\n\r\n", framing: .none, extra: "Server: p\r\n")
            == "HTTP/1.1 204 No Content\r\nDate: d\r\nServer: p\r\n\r\n")
    }

    // MARK: writeLocalResponse, appendDecimal

    // A local response: status line, Content-Type, Content-Length, connection field, extras, then the body.
    @Test func localResponse() {
        var out = bytes("left over")
        HeadWriter.writeLocalResponse(status: 404, reason: "Not Found", body: bytes("nope")[...], keepAlive: true, clientIsHTTP10: false,
                                      into: &out)
        #expect(String(decoding: out, as: UTF8.self)
            == "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\n\r\nnope")

        HeadWriter.writeLocalResponse(status: 502, reason: "Bad Gateway", contentType: "application/json", body: bytes("{}")[...],
                                      keepAlive: false, clientIsHTTP10: false, extraFields: bytes("Retry-After: 1\r\n"), into: &out)
        #expect(String(decoding: out, as: UTF8.self) == "HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            + "Connection: close\r\nRetry-After: 1\r\n\r\n{}")
    }

    // The local response to HEAD keeps Content-Length but has no body; an HTTP/1.0 client kept alive is told so.
    @Test func localResponseWithoutBodyForHTTP10() {
        var out: [UInt8] = []
        HeadWriter.writeLocalResponse(status: 200, reason: "OK", body: bytes("healthy\n")[...], includeBody: false, keepAlive: true,
                                      clientIsHTTP10: true, into: &out)
        #expect(String(decoding: out, as: UTF8.self)
            == "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 8\r\nConnection: keep-alive\r\n\r\n")
    }

    // appendDecimal appends (never replaces) the decimal digits of a non-negative number.
    @Test(arguments: [(0, "0"), (7, "7"), (10, "10"), (404, "404"), (1_234_567_890, "1234567890"), (Int.max, "9223372036854775807")])
    func appendDecimal(value: Int, text: String) {
        var out = bytes("n=")
        HeadWriter.appendDecimal(value, into: &out)
        #expect(String(decoding: out, as: UTF8.self) == "n=" + text)
    }

    // Status codes are written as three digits, clamped to 100...999.
    @Test(arguments: [(200, "200"), (101, "101"), (999, "999"), (42, "100"), (1000, "999")])
    func appendStatus(status: Int, text: String) {
        var out: [UInt8] = []
        HeadWriter.appendStatus(status, into: &out)
        #expect(String(decoding: out, as: UTF8.self) == text)
    }
}

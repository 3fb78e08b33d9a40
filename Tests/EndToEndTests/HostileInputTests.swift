import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Hostile requests (smuggling shapes, bad framing, bad bytes, odd targets and
/// versions): each is refused with the right status and the connection
/// closed, or forwarded re-serialised so that the upstream, which records
/// every byte (Fixtures/hostile_upstream.py), can parse it one way only.
/// See docs/security.md for the reasoning behind each expected outcome.
@Suite struct HostileInputTests {
    // Each refused shape gets its status and Connection: close, the connection closes, and not one byte reaches the upstream (a pooled connection was ready).
    @Test(arguments: HostileRequest.refused)
    func refusedBeforeAnyByteReachesTheUpstream(_ hostile: HostileRequest) throws {
        let upstream = try HostileUpstream()
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let warm = try RawClient(port: proxy.port, receiveTimeout: 10)
        try warm.send("GET /warm HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try warm.readResponse().status == 200)
        let client = try RawClient(port: proxy.port, receiveTimeout: 5)
        try client.send(latin1(hostile.text))
        let response = try client.readResponse()
        #expect(hostile.statuses.contains(response.status), "expected \(hostile.statuses), got \(response.status)")
        if hostile.statuses.contains(response.status) {
            #expect(response.header("Connection") == "close")
            #expect(client.nextRead() == .closed)
        }
        let forwarded = try upstream.forwarded()
        #expect(forwarded.problems.isEmpty, "\(forwarded.problems)")
        #expect(forwarded.requests.map(\.line) == ["GET /warm HTTP/1.1"], "the upstream received \(forwarded.requests.map(\.line))")
    }

    // Each shape llhttp accepts leniently is answered 200 and reaches the upstream in one canonical form, with the fields and body expected.
    @Test(arguments: HostileRequest.normalised)
    func acceptedInputReachesTheUpstreamCanonically(_ hostile: HostileRequest) throws {
        let upstream = try HostileUpstream()
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send(latin1(hostile.text))
        for _ in 0..<hostile.requestCount {
            let response = try client.readResponse()
            #expect(response.status == 200 && response.bodyText == "ok")
        }
        let forwarded = try upstream.forwarded()
        #expect(forwarded.problems.isEmpty, "\(forwarded.problems)")
        #expect(forwarded.requests.count == hostile.requestCount && forwarded.requests.allSatisfy(\.complete))
        let lines = forwarded.requests.flatMap { [$0.line] + $0.fields }.map(collapsingWhitespace)
        for expected in hostile.forwardedLines {
            #expect(lines.contains(collapsingWhitespace(expected)), "no line \(expected.debugDescription) in \(lines)")
        }
        if let body = hostile.body { #expect(forwarded.requests.first?.body == latin1(body)) }
    }

    // A bad chunk size after the head and a first chunk went upstream: 400, close; the upstream holds an unfinished canonical message, then EOF.
    @Test(arguments: ["5x", "-5", "0x5", "5 ", "10000000000000005", "5;\u{0}", "3"])
    func badChunkAfterTheHeadWentUpstream(junk: String) throws {
        let upstream = try HostileUpstream()
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("POST /chunks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n")
        // Readiness: the head and the first chunk are at the upstream.
        #expect(waitUntil { String(decoding: upstream.bytesSoFar, as: UTF8.self).hasSuffix("\r\n\r\n2\r\nhi\r\n") })
        try client.send(latin1(junk + "\r\nhello\r\n0\r\n\r\n"))
        let response = try client.readResponse()
        #expect(response.status == 400 && response.header("Connection") == "close")
        #expect(client.nextRead() == .closed)
        #expect(upstream.waitFor("EOF 1"))
        let forwarded = try upstream.forwarded()
        #expect(forwarded.problems.isEmpty, "\(forwarded.problems)")
        let request = try #require(forwarded.requests.first)
        #expect(forwarded.requests.count == 1 && !request.complete)
        #expect(request.body == latin1("hi") || request.body == latin1("hihel"))
    }

    // HTTP/1.0 with Transfer-Encoding has faulty framing (RFC 9112 6.1): whatever the answer, the connection closes after it, keep-alive or not.
    @Test func http10WithTransferEncodingCloses() throws {
        let upstream = try HostileUpstream()
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 3)
        try client.send("POST /ten HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200 || response.status == 400)
        #expect(response.header("Connection") == "close", "got Connection: \(response.header("Connection") ?? "none")")
        #expect(client.nextRead() == .closed)
        #expect(try upstream.forwarded().problems.isEmpty)
    }

    // Connection naming Content-Length (or Transfer-Encoding) must not strip the framing: the upstream reads the body as a body, never as a request the proxy did not see.
    @Test(arguments: [true, false])
    func connectionNamingTheFramingKeepsIt(contentLength: Bool) throws {
        let upstream = try HostileUpstream()
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 5)
        let smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
        let size = String(smuggled.utf8.count, radix: 16)
        try client.send(HostileRequest.post + (contentLength
            ? "Connection: content-length\r\nContent-Length: \(smuggled.utf8.count)\r\n\r\n\(smuggled)"
            : "Connection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n\(size)\r\n\(smuggled)\r\n0\r\n\r\n"))
        let response = try client.readResponse()
        #expect(response.status == 200 || response.status == 400)
        let forwarded = try upstream.forwarded()
        #expect(forwarded.problems.isEmpty, "\(forwarded.problems)")
        #expect(!forwarded.requests.contains { $0.line.hasPrefix("GET /smuggled") }, "the upstream read the body as a request")
        if response.status == 200 { #expect(forwarded.requests.first?.body == latin1(smuggled)) }
    }

    // An upgrade the upstream declines (200, not 101) opens no tunnel: the bytes pipelined after it never reach the upstream unparsed.
    @Test func declinedUpgradeOpensNoTunnel() throws {
        let upstream = try HostileUpstream()
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 5)
        try client.send("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200 && response.bodyText == "ok")
        let forwarded = try upstream.forwarded()
        #expect(forwarded.problems.isEmpty, "\(forwarded.problems)")
        #expect(forwarded.requests.first?.line == "GET /ws HTTP/1.1")
    }

    // A request line or header section that never ends (256 KiB, no end in sight) is answered 414 / 431 and the connection closes.
    @Test(arguments: [(true, 414), (false, 431)])
    func endlessHeadIsAnsweredWithoutItsEnd(inTarget: Bool, status: Int) throws {
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:\(try FreePort.pick())")
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send(inTarget ? "GET /" : "GET / HTTP/1.1\r\nHost: x\r\n")
        let line = "X-Pad: " + String(repeating: "p", count: 121) + "\r\n"
        let filler = inTarget ? String(repeating: "a", count: 64 * 1024) : String(repeating: line, count: 512)
        for _ in 0..<4 where !isReadable(client.fd, milliseconds: 0) { try client.send(filler) }
        let response = try client.readResponse()
        #expect(response.status == status && response.header("Connection") == "close")
        #expect(client.nextRead() == .closed)
    }
}

/// A hostile request and what must become of it.
struct HostileRequest: Sendable, CustomTestStringConvertible {
    let testDescription: String
    /// Latin-1: "\u{0}" is a NUL byte, "\u{FF}" the byte 0xFF.
    let text: String
    /// Refused: the statuses that are right.
    var statuses: [Int] = []
    /// Forwarded: lines (request line or field) the upstream must receive, compared with runs of whitespace made one space.
    var forwardedLines: [String] = []
    var body: String?
    var requestCount = 1

    static func refuse(_ name: String, _ text: String, _ statuses: [Int] = [400]) -> HostileRequest {
        HostileRequest(testDescription: name, text: text, statuses: statuses)
    }

    static func forward(_ name: String, _ text: String, _ lines: [String], body: String? = nil, count: Int = 1) -> HostileRequest {
        HostileRequest(testDescription: name, text: text, forwardedLines: lines, body: body, requestCount: count)
    }

    static let post = "POST /p HTTP/1.1\r\nHost: x\r\n"
    static let chunked = "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"

    static let refused: [HostileRequest] = [
        refuse("TE chunked then CL, pipelined GET", post + "Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"),
        refuse("TE identity with CL", post + "Transfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello"),
        refuse("CL list 5, 5", post + "Content-Length: 5, 5\r\n\r\nhello"),
        refuse("CL negative", post + "Content-Length: -1\r\n\r\nhello"),
        refuse("CL with plus sign", post + "Content-Length: +5\r\n\r\nhello"),
        refuse("CL in hex", post + "Content-Length: 0x5\r\n\r\nhello"),
        refuse("CL overflowing 64 bits", post + "Content-Length: 99999999999999999999\r\n\r\nhello"),
        refuse("CL empty", post + "Content-Length: \r\n\r\nhello"),
        refuse("TE gzip alone", post + "Transfer-Encoding: gzip\r\n\r\nhello"),
        refuse("TE chunked, gzip", post + "Transfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        refuse("TE chunked, chunked", post + "Transfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        refuse("TE chunked, then TE identity", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        refuse("TE xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        refuse("TE gzip, chunked (a coding the proxy would drop)", post + "Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", [501]),
        refuse("space before colon in TE", post + "Transfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        refuse("space before colon in Host", "GET / HTTP/1.1\r\nHost : x\r\n\r\n"),
        refuse("space before colon in a custom field", "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For : 203.0.113.9\r\n\r\n"),
        refuse("tab before colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A\t: b\r\n\r\n"),
        refuse("empty field name", "GET / HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n"),
        refuse("fold before the first field", "GET / HTTP/1.1\r\n folded\r\nHost: x\r\n\r\n"),
        refuse("bare CR in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"),
        refuse("bare LF after a value", "GET / HTTP/1.1\r\nHost: x\nX-B: b\r\n\r\n"),
        refuse("NUL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{0}b\r\n\r\n"),
        refuse("0x01 in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{1}b\r\n\r\n"),
        refuse("ESC in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{1B}b\r\n\r\n"),
        refuse("DEL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{7F}b\r\n\r\n"),
        refuse("control byte in a name", "GET / HTTP/1.1\r\nHost: x\r\nX\u{1}A: b\r\n\r\n"),
        refuse("NUL in the target", "GET /a\u{0}b HTTP/1.1\r\nHost: x\r\n\r\n"),
        refuse("DEL in the target", "GET /a\u{7F}b HTTP/1.1\r\nHost: x\r\n\r\n"),
        refuse("tab in the target", "GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n"),
        refuse("space in the target", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"),
        refuse("asterisk-form with GET", "GET * HTTP/1.1\r\nHost: x\r\n\r\n"),
        refuse("authority-form with GET", "GET example.com:80 HTTP/1.1\r\nHost: x\r\n\r\n"),
        refuse("HTTP/0.9 request line", "GET /\r\n\r\n"),
        refuse("version HTTP/0.9", "GET / HTTP/0.9\r\nHost: x\r\n\r\n", [400, 505]),
        refuse("version HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", [400, 505]),
        refuse("version HTTP/3.0", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", [400, 505]),
        refuse("version HTTP/1.2", "GET / HTTP/1.2\r\nHost: x\r\n\r\n", [400, 505]),
        refuse("lower-case version", "GET / http/1.1\r\nHost: x\r\n\r\n"),
        refuse("space after the version", "GET / HTTP/1.1 \r\nHost: x\r\n\r\n"),
        refuse("HTTP/2 prior-knowledge preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", [400, 505]),
        refuse("HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n"),
        refuse("two Host fields", "GET / HTTP/1.1\r\nHost: x\r\nHost: evil.example\r\n\r\n"),
        refuse("invalid Host value", "GET / HTTP/1.1\r\nHost: exa mple/x\r\n\r\n"),
    ]

    static let normalised: [HostileRequest] = [
        forward("obs-fold with spaces", "GET /f HTTP/1.1\r\nHost: x\r\nX-Long: first\r\n  continued\r\n\r\n", ["X-Long: first continued"]),
        forward("obs-fold with a tab", "GET /f HTTP/1.1\r\nHost: x\r\nX-Tab: a\r\n\tb\r\n\r\n", ["X-Tab: a b"]),
        forward("obs-fold inside TE", post + "Transfer-Encoding:\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", ["Transfer-Encoding: chunked"], body: "hello"),
        forward("obs-fold inside CL", post + "Content-Length:\r\n 5\r\n\r\nhello", ["Content-Length: 5"], body: "hello"),
        forward("bare LF after the request line and at the end", "GET /lf HTTP/1.1\nHost: x\r\n\n", ["GET /lf HTTP/1.1", "Host: x"]),
        forward("TE CHUNKED in capitals", post + "Transfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n", ["Transfer-Encoding: chunked"], body: "hello"),
        forward("chunk extension and trailer", post + "Transfer-Encoding: chunked\r\n\r\n5;ext=\"1\"\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
                ["Transfer-Encoding: chunked"], body: "hello"),
        forward("whitespace after CL", post + "Content-Length: 5 \r\n\r\nhello", ["Content-Length: 5"], body: "hello"),
        forward("two spaces after the method", "GET  /sp HTTP/1.1\r\nHost: x\r\n\r\n", ["GET /sp HTTP/1.1"]),
        forward("obs-text in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{FF}b\r\n\r\n", ["X-A: a\u{FF}b"]),
        forward("Connection naming Host", "GET / HTTP/1.1\r\nHost: x\r\nConnection: host\r\n\r\n", ["Host: x", "X-Forwarded-Host: x"]),
        forward("byte 0xFF in the target", "GET /a\u{FF}b HTTP/1.1\r\nHost: x\r\n\r\n", ["GET /a\u{FF}b HTTP/1.1"]),
        forward("absolute-form target", "GET http://elsewhere.example/p?q=1 HTTP/1.1\r\nHost: x\r\n\r\n",
                ["GET http://elsewhere.example/p?q=1 HTTP/1.1", "Host: x", "X-Forwarded-Host: x"]),
        forward("asterisk-form OPTIONS", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", ["OPTIONS * HTTP/1.1"]),
        forward("CL body, then a pipelined request", post + "Content-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
                ["POST /p HTTP/1.1", "GET /b HTTP/1.1"], body: "hello", count: 2),
        forward("chunked body, then a pipelined request", post + chunked + "GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
                ["POST /p HTTP/1.1", "GET /b HTTP/1.1"], body: "hello", count: 2),
    ]
}

/// True once `condition` holds, checked every 20 ms for at most `timeout` seconds.
func waitUntil(timeout: TimeInterval = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        if Date() > deadline { return false }
        usleep(20_000)
    }
    return true
}

/// True if `fd` has bytes (or an end of stream) to read within `milliseconds`.
func isReadable(_ fd: Int32, milliseconds: Int32) -> Bool {
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    return poll(&entry, 1, milliseconds) > 0
}

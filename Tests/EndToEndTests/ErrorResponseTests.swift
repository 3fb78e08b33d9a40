import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Answers the proxy makes itself when the client or the upstream misbehaves:
/// status, body, whether the client connection survives, and the log line.
/// Misbehaving upstreams are Fixtures/raw_upstream.py in one of its modes.
@Suite struct ErrorResponseTests {
    // An upstream address where nothing listens: the client gets 502 with a one-line reason, twice on one connection, and each is logged.
    @Test func refusedUpstreamAnswers502AndKeepsTheClient() throws {
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:\(try FreePort.pick())")
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
        let first = try client.readResponse()
        #expect(first.status == 502)
        #expect(first.header("Content-Type")?.hasPrefix("text/plain") == true)
        #expect(first.bodyText == "upstream refused connection (ECONNREFUSED)\n")
        #expect(first.header("Connection") == nil)
        try client.send("GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
        let second = try client.readResponse()
        #expect(second.status == 502)
        #expect(second.bodyText == first.bodyText)
        let lines = proxy.process.waitForLines(count: 2) { $0.contains(" 502 ") }
        #expect(lines.count == 2)
        let line = try #require(lines.first { $0.contains("/first") })
        #expect(line.contains("\"GET /first HTTP/1.1\" 502 "))
        #expect(line.hasSuffix(" error=\"upstream refused connection (ECONNREFUSED)\""))
    }

    // A unix-socket upstream path that does not exist answers 502 naming ENOENT.
    @Test func missingUnixSocketAnswers502() throws {
        let path = "/tmp/runtime-proxy-missing-\(UUID().uuidString.prefix(8))/upstream.sock"
        let proxy = try ProxyUnderTest(upstream: "unix:\(path)")
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 502)
        #expect(response.bodyText == "upstream refused connection (ENOENT)\n")
    }

    // A request llhttp cannot parse (bad header line, unknown method) gets 400 and the connection closes.
    @Test(arguments: [
        BadRequest("header line without colon", "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
        BadRequest("unknown method", "FOO / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ])
    func malformedRequestAnswers400AndCloses(_ bad: BadRequest) throws {
        try expectRejected(bad.text, status: bad.status)
    }

    // Limits on the request head: target over 8 KiB is 414; header section over 32 KiB or over 100 fields is 431; the connection closes.
    @Test(arguments: [
        BadRequest("9000-byte target", "GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        BadRequest("33 KiB field", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "b", count: 33 * 1024) + "\r\n\r\n", 431),
        BadRequest("102 fields", "GET / HTTP/1.1\r\nHost: x\r\n" + (1...101).map { "X-Field-\($0): v\r\n" }.joined() + "\r\n", 431),
    ])
    func oversizedHeadIsRejected(_ bad: BadRequest) throws {
        try expectRejected(bad.text, status: bad.status)
    }

    // CONNECT is refused with 405 and the connection closes.
    @Test func connectAnswers405() throws {
        try expectRejected("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", status: 405, logsError: false)
    }

    // Smuggling shapes (Content-Length with chunked, two different Content-Lengths) get 400 and not one byte of them reaches the upstream, even with a pooled connection ready.
    @Test(arguments: [
        BadRequest("Content-Length with chunked",
                   "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        BadRequest("two Content-Lengths",
                   "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 41\r\n\r\nhelloGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ], [false, true])
    func smugglingShapesNeverReachTheUpstream(_ bad: BadRequest, warmPool: Bool) throws {
        let upstream = try PythonUpstream("raw_upstream.py", ["record"])
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        if warmPool {
            let warm = try RawClient(port: proxy.port, receiveTimeout: 10)
            try warm.send("GET /warm HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try warm.readResponse().status == 200)
        }
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send(bad.text)
        let response = try client.readResponse()
        #expect(response.status == bad.status)
        #expect(response.header("Connection") == "close")
        #expect(client.nextRead() == .closed)
        #expect(proxy.process.waitForLines(count: 1) { $0.contains("\"POST / HTTP/1.1\" 400 ") }.count == 1)
        let received = try bytesReceived(by: upstream)
        if warmPool {
            #expect(received.hasPrefix("GET /warm HTTP/1.1\r\n") && received.hasSuffix("\r\n\r\n"))
            #expect(received.components(separatedBy: "HTTP/1.1").count == 2)
            #expect(!received.contains("POST") && !received.contains("smuggled"))
        } else {
            #expect(received.isEmpty)
        }
    }

    // An upstream that answers with bytes that are not HTTP gives 502, logged with the reason.
    @Test func garbageFromUpstreamAnswers502() throws {
        let upstream = try PythonUpstream("raw_upstream.py", ["garbage"])
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("GET /garbage HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 502)
        #expect(response.bodyText.hasPrefix("invalid response from upstream ("))
        expectLogged(proxy, path: "/garbage", status: 502, error: "invalid response from upstream (")
    }

    // An upstream that closes halfway through a Content-Length body: the client is cut off with a short body, and the log says why.
    @Test func upstreamClosingMidBodyCutsTheClientOff() throws {
        let upstream = try PythonUpstream("raw_upstream.py", ["half-body"])
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("GET /half HTTP/1.1\r\nHost: x\r\n\r\n")
        let (text, closed) = client.readUntilClosed()
        #expect(closed)
        let parts = text.components(separatedBy: "\r\n\r\n")
        #expect(parts.first?.hasPrefix("HTTP/1.1 200 ") == true)
        #expect(parts.first?.contains("Content-Length: 100") == true)
        #expect(parts.count == 2 && parts[1].utf8.count < 100)
        expectLogged(proxy, path: "/half", status: 200, error: "upstream closed connection")
    }

    // An upstream that closes its connection after a response: the next request still succeeds (on a new upstream connection).
    @Test func upstreamClosingAfterAResponseIsNotReused() throws {
        let upstream = try PythonUpstream("raw_upstream.py", ["close-after"])
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try expectGetOneAndTwoOK(on: client)
        #expect(upstream.process.waitForLine { $0.hasSuffix(" GET /two HTTP/1.1") } != nil)
    }

    // A pooled connection the upstream closes when the next GET arrives: the GET is retried once on a fresh connection and gets 200.
    @Test func getOnPooledConnectionClosedUnderItIsRetried() throws {
        let upstream = try PythonUpstream("raw_upstream.py", ["close-on-second"])
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try expectGetOneAndTwoOK(on: client)
        let received = upstream.process.waitForLines(count: 2) { $0.hasSuffix(" GET /two HTTP/1.1") }
        #expect(received == ["REQUEST 1 GET /two HTTP/1.1", "REQUEST 2 GET /two HTTP/1.1"])
        #expect(proxy.process.waitForLines(count: 1) { $0.contains("\"GET /two HTTP/1.1\" 200 ") }.first?.contains("error=") == false)
    }

    // An upstream that resets a fresh connection before reading the request (a runtime killed with it in the accept queue does): a GET is sent once more on a new connection and gets 200; a POST whose body went out is not sent again and gets 502.
    @Test func resetBeforeAnyResponseIsRetriedOnceWhenSafe() throws {
        let upstream = try PythonUpstream("raw_upstream.py", ["reset-first"])
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().status == 200)
        #expect(upstream.process.waitForLines(count: 2) { $0.hasSuffix(" GET /again HTTP/1.1") }
                == ["REQUEST 1 GET /again HTTP/1.1", "REQUEST 2 GET /again HTTP/1.1"])

        let resetting = try PythonUpstream("raw_upstream.py", ["reset-first"])
        let postProxy = try ProxyUnderTest(upstream: resetting.address)
        let poster = try RawClient(port: postProxy.port, receiveTimeout: 10)
        try poster.send("POST /once HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody")
        #expect(try poster.readResponse().status == 502)
        expectLogged(postProxy, path: "/once", status: 502, error: "upstream reset connection (ECONNRESET)")
        // The upstream's line is waited for (its output is read by another
        // thread, which a busy machine can hold back); that nothing went up
        // again is the proxy's own count.
        #expect(resetting.process.waitForLines(count: 1) { $0.hasPrefix("REQUEST ") } == ["REQUEST 1 POST /once HTTP/1.1"])
        let metrics = KubelessRuntimeTests.metrics(try curl(["\(postProxy.baseURL)/metrics"]).output)
        #expect(metrics["runtime_proxy_upstream_retries_total"] == 0)
    }

    /// Sends GET /one, then GET /two on `client`'s connection: each must get 200 "ok".
    private func expectGetOneAndTwoOK(on client: RawClient, sourceLocation: SourceLocation = #_sourceLocation) throws {
        for path in ["/one", "/two"] {
            try client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 200, sourceLocation: sourceLocation)
            #expect(response.bodyText == "ok", sourceLocation: sourceLocation)
        }
    }

    /// Expects the proxy's access-log line for `path` to have `status` and an error that begins with `error`.
    private func expectLogged(_ proxy: ProxyUnderTest, path: String, status: Int, error: String,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        let line = proxy.process.waitForLines(count: 1) { $0.contains(path) }.first
        #expect(line?.contains("\" \(status) ") == true, sourceLocation: sourceLocation)
        #expect(line?.contains(" error=\"\(error)") == true, sourceLocation: sourceLocation)
    }

    /// Sends `request` to a proxy whose upstream is down, and expects `status`
    /// with `Connection: close`, a one-line body, and the connection closed.
    private func expectRejected(_ request: String, status: Int, logsError: Bool = true) throws {
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:\(try FreePort.pick())")
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send(request)
        let response = try client.readResponse()
        #expect(response.status == status)
        #expect(response.header("Connection") == "close")
        #expect(response.bodyText.hasSuffix("\n") && response.bodyText.dropLast().contains("\n") == false)
        #expect(client.nextRead() == .closed)
        let lines = proxy.process.waitForLines(count: 1) { $0.contains("\" \(status) ") }
        #expect(lines.first?.contains(" error=\"") == logsError)
    }
}

/// A request the proxy must refuse, with the status it must refuse it with.
struct BadRequest: Sendable, CustomTestStringConvertible {
    let testDescription: String
    let text: String
    let status: Int
    init(_ name: String, _ text: String, _ status: Int) { (testDescription, self.text, self.status) = (name, text, status) }
}

/// Asks the record fixture to drain every socket, then returns every byte it
/// recorded (from all its connections), as text.
private func bytesReceived(by upstream: PythonUpstream) throws -> String {
    let sentinel = try RawClient(port: upstream.port, receiveTimeout: 10)
    try sentinel.send("SENTINEL\n")
    _ = try #require(upstream.process.waitForLine { $0 == "SENTINEL" })
    var bytes: [UInt8] = []
    for line in upstream.process.stdout where line.hasPrefix("DATA ") {
        let hex = Array(line.split(separator: " ").last ?? "")
        for index in stride(from: 0, to: hex.count - 1, by: 2) {
            bytes.append(UInt8(String(hex[index...index + 1]), radix: 16) ?? 0x3F)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// A client that goes away mid-request takes its upstream connection with it.
@Suite struct ClientAbortTests {
    // A client that closes halfway through its request body: the upstream
    // connection is closed too (never reused), and the next request opens a new one.
    @Test func clientClosingMidBodyDiscardsTheUpstreamConnection() throws {
        let upstream = try PythonUpstream("raw_upstream.py", ["record"])
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port)
        try client.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly half")
        #expect(upstream.process.waitForLine { $0.hasPrefix("DATA 1 ") } != nil)
        client.shutdownWrite()
        #expect(upstream.process.waitForLine { $0 == "EOF 1" } != nil)
        let log = proxy.process.waitForLines(count: 1) { $0.contains("\"POST /upload HTTP/1.1\" 499") }
        #expect(log.first?.contains("error=\"client closed mid-request\"") == true)
        let warm = try curl(["-w", " %{http_code}", "\(proxy.baseURL)/warm"])
        #expect(warm.output == "ok 200")
        #expect(upstream.process.waitForLine { $0 == "CONN 2" } != nil)
    }
}

/// A client that half-closes (sends its request, then FIN) still gets its
/// answer, and then the proxy closes: nothing would read that connection again.
@Suite struct HalfCloseTests {
    // The answer is an error the proxy makes (the upstream refuses): 502, then the close, not an idle connection held until the client idle timeout.
    // (Whether the 502 says `Connection: close` depends on whether the FIN was read before the refusal came back: on a
    // loaded machine it can come after, and the head says keep-alive; the close follows either way. Seen in a loaded CI run.)
    @Test func errorAnswerAfterHalfCloseClosesTheConnection() throws {
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:\(try FreePort.pick())")
        let client = try RawClient(port: proxy.port, receiveTimeout: 5)
        try client.send("GET /refused HTTP/1.1\r\nHost: x\r\n\r\n")
        client.shutdownWrite()
        let (text, closed) = client.readUntilClosed()
        #expect(text.hasPrefix("HTTP/1.1 502 "), "the client got \(text.debugDescription)")
        #expect(closed, "the proxy kept the half-closed connection open")
    }

    // The answer is the upstream's: it comes whole, then the close.
    @Test func upstreamAnswerAfterHalfCloseArrivesThenCloses() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        for _ in 0..<20 {
            let client = try RawClient(port: proxy.port, receiveTimeout: 5)
            try client.send("GET /status/200 HTTP/1.1\r\nHost: x\r\n\r\n")
            client.shutdownWrite()
            let (text, closed) = client.readUntilClosed()
            #expect(text.hasPrefix("HTTP/1.1 200 ") && text.hasSuffix("status 200"), "the client got \(text.debugDescription)")
            #expect(closed)
        }
    }
}

import Foundation
import Testing

/// Requests through the proxy reach the upstream unchanged, and responses
/// come back unchanged: the three things the Kubeless Go proxy dropped (path,
/// status, headers) are pinned here.
@Suite struct ForwardingTests {
    let upstream: PythonUpstream
    let proxy: ProxyUnderTest

    init() throws {
        upstream = try PythonUpstream("echo_upstream.py")
        proxy = try ProxyUnderTest(upstream: upstream.address)
    }

    private func echo(_ response: RawClient.Response) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
    }

    // Method, path and query arrive upstream as the client sent them, for every common method.
    @Test(arguments: ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
    func methodAndTargetArriveUnchanged(method: String) throws {
        let client = try RawClient(port: proxy.port)
        let body = method == "GET" || method == "DELETE" ? "" : "{\"it-s\": \"alive\"}"
        try client.send("\(method) /some/path?q=1&r=%20x HTTP/1.1\r\nHost: fn.example\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        let response = try client.readResponse()
        #expect(response.status == 200)
        let seen = try echo(response)
        #expect(seen["method"] as? String == method)
        #expect(seen["target"] as? String == "/some/path?q=1&r=%20x")
        #expect(seen["body_length"] as? Int == body.utf8.count)
    }

    // The upstream's status code reaches the client exactly, with its body.
    @Test(arguments: [200, 201, 202, 400, 404, 418, 500, 503])
    func statusArrivesUnchanged(status: Int) throws {
        let result = try curl(["-o", "-", "-w", "\n%{http_code}", "\(proxy.baseURL)/status/\(status)"])
        #expect(result.output == "status \(status)\n\(status)")
    }

    // Response headers, repeated ones included, reach the client in order.
    @Test func responseHeadersArriveUnchanged() throws {
        let client = try RawClient(port: proxy.port)
        try client.send("GET /header?name=hello HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.header("X-Test") == "hello")
        #expect(response.head.contains("Set-Cookie: a=1\r\nSet-Cookie: b=2"))
        #expect(response.header("Server")?.hasPrefix("BaseHTTP") == true)
    }

    // Host is kept; X-Forwarded-For/Proto/Host are added; hop-by-hop fields are not forwarded.
    @Test func forwardingHeaders() throws {
        let client = try RawClient(port: proxy.port)
        try client.send("GET / HTTP/1.1\r\nHost: fn.example:8080\r\nX-Forwarded-For: 10.1.2.3\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: timeout=5\r\nProxy-Authorization: Basic eA==\r\nevent-id: 42\r\n\r\n")
        let seen = try echo(try client.readResponse())
        let headers = try #require(seen["headers"] as? [[String]])
        let names = headers.map { $0[0].lowercased() }
        let value = { (name: String) in headers.first { $0[0].lowercased() == name }?[1] }
        #expect(value("host") == "fn.example:8080")
        #expect(value("x-forwarded-for") == "10.1.2.3, 127.0.0.1")
        #expect(value("x-forwarded-proto") == "http")
        #expect(value("x-forwarded-host") == "fn.example:8080")
        #expect(value("event-id") == "42")
        #expect(!names.contains("x-hop"))
        #expect(!names.contains("keep-alive"))
        #expect(!names.contains("connection"))
        #expect(!names.contains("proxy-authorization"))
    }

    // A chunked request body is re-framed and arrives whole; a chunked response arrives whole.
    @Test func chunkedBothWays() throws {
        let client = try RawClient(port: proxy.port)
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer-A: 1\r\n\r\n")
        let seen = try echo(try client.readResponse())
        #expect(seen["body_length"] as? Int == 11)
        try client.send("GET /chunked?n=4 HTTP/1.1\r\nHost: x\r\n\r\n")
        let chunked = try client.readResponse()
        #expect(chunked.header("Transfer-Encoding") == "chunked")
        #expect(chunked.bodyText == "chunk 0\nchunk 1\nchunk 2\nchunk 3\n")
    }

    // A response that ends by closing reaches an HTTP/1.1 client re-chunked, and the connection stays usable.
    @Test func closeDelimitedResponseIsRechunked() throws {
        let client = try RawClient(port: proxy.port)
        try client.send("GET /close-delimited HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.bodyText == "until the end")
        #expect(response.header("Transfer-Encoding") == "chunked")
        try client.send("GET /status/201 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().status == 201)
    }

    // HEAD gets the upstream's headers and no body; 204 and 304 have no body; the connection stays in sync.
    @Test func responsesWithoutBodies() throws {
        let client = try RawClient(port: proxy.port)
        try client.send("HEAD /bytes?n=100 HTTP/1.1\r\nHost: x\r\n\r\n")
        let head = try client.readResponse(requestMethod: "HEAD")
        #expect(head.status == 200)
        #expect(head.header("Content-Length") == "100")
        try client.send("GET /status/204 HTTP/1.1\r\nHost: x\r\n\r\nGET /status/304 HTTP/1.1\r\nHost: x\r\n\r\nGET /status/202 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().status == 204)
        #expect(try client.readResponse().status == 304)
        let last = try client.readResponse()
        #expect(last.status == 202)
        #expect(last.bodyText == "status 202")
    }

    // Pipelined requests are answered in order on one connection.
    @Test func pipelinedRequestsAnsweredInOrder() throws {
        let client = try RawClient(port: proxy.port)
        var batch = ""
        for index in 0..<20 { batch += "GET /status/\(200 + index) HTTP/1.1\r\nHost: x\r\n\r\n" }
        try client.send(batch)
        for index in 0..<20 {
            let response = try client.readResponse()
            #expect(response.status == 200 + index)
        }
    }

    // An HTTP/1.0 client gets a complete answer and the connection closes (no keep-alive asked).
    @Test func http10Client() throws {
        let client = try RawClient(port: proxy.port)
        try client.send("GET /chunked?n=2 HTTP/1.0\r\n\r\n")
        let text = client.readToEnd()
        #expect(text.hasPrefix("HTTP/1.1 200"))
        #expect(text.hasSuffix("chunk 0\nchunk 1\n"))
        #expect(!text.contains("Transfer-Encoding"))
    }

    // The proxy answers /healthz itself and exposes the Kubeless metric families.
    @Test func localRoutes() throws {
        #expect(try curl(["\(proxy.baseURL)/healthz"]).output == "OK")
        _ = try curl(["\(proxy.baseURL)/status/200"])
        let metrics = try curl(["\(proxy.baseURL)/metrics"]).output
        #expect(metrics.contains("function_calls_total{method=\"GET\"} 1\n"))
        #expect(metrics.contains("# HELP function_duration_seconds Duration of user function in seconds"))
    }

    // Each proxied request writes one access-log line in the Go proxy's format.
    @Test func accessLogLine() throws {
        _ = try curl(["-A", "test-agent/1.0", "\(proxy.baseURL)/status/201?a=b"])
        let lines = proxy.process.waitForLines(count: 1) { $0.contains("/status/201") }
        let line = try #require(lines.first)
        #expect(line.range(of: #"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d 127\.0\.0\.1:\d+ "GET /status/201\?a=b HTTP/1\.1" 201 test-agent/1\.0 \d+\.\d{6}$"#,
                           options: .regularExpression) != nil)
    }

    // A head whose body comes later (many runtimes write the two apart) waits for the body and leaves with it: nothing reaches the client while the body is due.
    @Test func headWaitsForItsBody() throws {
        let upstream = try PythonUpstream("raw_upstream.py", ["head-then-body"])
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port)
        try client.send("GET /later HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = try #require(upstream.process.waitForLine { $0 == "HEAD 1" })
        // The body follows a second after the head.
        #expect(!isReadable(client.fd, milliseconds: 300), "the head left before its body")
        let response = try client.readResponse()
        #expect(response.status == 200 && response.bodyText == "hello")
    }
}

import Foundation
import Testing

/// Every error answer the proxy makes says so in `X-Runtime-Proxy-Error`
/// with one token per reason, the JSON log's `error` carries the same token,
/// and a runtime's own answers never carry the header.
@Suite struct WhoFailedTests {
    /// One request on a new connection to `proxy`.
    private func answer(_ proxy: ProxyUnderTest, _ request: String, method: String = "GET") throws -> RawClient.Response {
        let client = try RawClient(port: proxy.port, receiveTimeout: 20)
        try client.send(request)
        return try client.readResponse(requestMethod: method)
    }

    // Nothing listens upstream: 502 with upstream-refused, a one-line body, and the JSON log's error is the token.
    @Test func refusedUpstreamIsNamed() throws {
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:\(try FreePort.pick())", arguments: ["--log-format", "json"])
        let response = try answer(proxy, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(response.status == 502)
        #expect(response.header("X-Runtime-Proxy-Error") == "upstream-refused")
        #expect(response.bodyText.hasPrefix("upstream refused connection") && response.bodyText.filter { $0 == "\n" }.count == 1)
        let line = try #require(proxy.process.waitForLines(count: 1) { $0.contains("\"path\":\"/x\"") || $0.contains("/x") }.first)
        let entry = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(entry["error"] as? String == "upstream-refused")
        #expect((entry["error_detail"] as? String)?.hasPrefix("upstream refused connection") == true)
    }

    // The request timeout (408), a bad request (400), a head too large (431), CONNECT (405): each names its reason.
    @Test func proxyAnswersNameTheirReason() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--timeout", "1"])
        let cases: [(request: String, status: Int, token: String)] = [
            ("GET /sleep?ms=5000 HTTP/1.1\r\nHost: x\r\n\r\n", 408, "request-timeout"),
            ("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, "bad-request"),
            ("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 40_000) + "\r\n\r\n", 431, "headers-too-large"),
            ("CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n", 405, "method-not-allowed"),
        ]
        for item in cases {
            let response = try answer(proxy, item.request)
            #expect(response.status == item.status)
            #expect(response.header("X-Runtime-Proxy-Error") == item.token, "\(item.status): \(response.head)")
        }
    }

    // A full admission queue's 503 says queue-full.
    @Test func fullQueueIsNamed() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--max-inflight", "1", "--max-queue", "0"])
        let holder = try RawClient(port: proxy.port, receiveTimeout: 20)
        try holder.send("GET /sleep?ms=3000 HTTP/1.1\r\nHost: x\r\n\r\n")
        // The slow request holds the one slot: wait until the proxy counts it in flight.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let metrics = KubelessRuntimeTests.metrics(try curl(["\(proxy.baseURL)/metrics"]).output)
            if metrics["runtime_proxy_requests_in_flight"] == 1 { break }
            usleep(20_000)
        }
        let response = try answer(proxy, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(response.status == 503)
        #expect(response.header("X-Runtime-Proxy-Error") == "queue-full")
        #expect(response.header("Retry-After") == "1")
        #expect(try holder.readResponse().status == 200)
    }

    // A runtime's answer never carries the header: one the runtime sends is dropped, and a plain 200 has none.
    @Test func runtimeAnswersCarryNoProxyError() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let forged = try answer(proxy, "GET /forged-error HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(forged.status == 502 && forged.bodyText == "mine")
        #expect(forged.header("X-Runtime-Proxy-Error") == nil)
        let plain = try answer(proxy, "GET /status/200 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(plain.status == 200 && plain.header("X-Runtime-Proxy-Error") == nil)
    }
}

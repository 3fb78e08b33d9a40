import Foundation
import Testing

/// W3C Trace Context through the proxy: a client's traceparent passes
/// unchanged; without one the proxy makes one, and the runtime, the client
/// and the JSON log all see the same trace id.
@Suite struct TraceContextEndToEndTests {
    static let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    /// The upstream's echo of the request's `traceparent` fields, the response, and the proxy's JSON log entry.
    private func exchange(_ arguments: [String], traceparent: String?) throws -> (seen: [String], response: RawClient.Response,
                                                                                    log: [String: Any]) {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--log-format", "json"] + arguments)
        let client = try RawClient(port: proxy.port)
        try client.send("GET /echo HTTP/1.1\r\nHost: x\r\n" + (traceparent.map { "traceparent: \($0)\r\n" } ?? "") + "\r\n")
        let response = try client.readResponse()
        let echo = try KubelessRuntimeTests.jsonObject(response)
        let headers = try #require(echo["headers"] as? [[String]])
        let seen = headers.filter { $0[0].lowercased() == "traceparent" }.map { $0[1] }
        let line = try #require(proxy.process.waitForLines(count: 1) { $0.hasPrefix("{") }.first)
        let log = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        return (seen, response, log)
    }

    // No traceparent: one is made; the runtime gets it, the client gets it back as traceresponse, the log has its trace id.
    @Test func madeWhenAbsent() throws {
        let (seen, response, log) = try exchange([], traceparent: nil)
        let made = try #require(seen.first)
        #expect(seen.count == 1)
        #expect(made.range(of: "^00-[0-9a-f]{32}-[0-9a-f]{16}-01$", options: .regularExpression) != nil, "\(made)")
        #expect(log["trace_id"] as? String == String(made.dropFirst(3).prefix(32)))
        // The proxy made the request id too: the trace id is that id, which the client has; no traceresponse.
        #expect(response.header("X-Request-Id") == String(made.dropFirst(3).prefix(32)))
        #expect(response.header("traceresponse") == nil)
    }

    // A client that names its own request id but sends no traceparent gets the made one back as traceresponse.
    @Test func returnedWhenTheRequestIdIsTheClients() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port)
        try client.send("GET /echo HTTP/1.1\r\nHost: x\r\nX-Request-Id: mine-1\r\n\r\n")
        let response = try client.readResponse()
        let headers = try #require(KubelessRuntimeTests.jsonObject(response)["headers"] as? [[String]])
        let made = try #require(headers.first { $0[0].lowercased() == "traceparent" }?[1])
        #expect(response.header("traceresponse") == made)
        #expect(response.header("X-Request-Id") == "mine-1")
    }

    // A client's traceparent passes unchanged and alone; nothing comes back; the log has its trace id.
    @Test func clientsPassesUnchanged() throws {
        let (seen, response, log) = try exchange([], traceparent: Self.valid)
        #expect(seen == [Self.valid])
        #expect(response.header("traceresponse") == nil)
        #expect(log["trace_id"] as? String == "4bf92f3577b34da6a3ce929d0e0e4736")
    }

    // --trace-context off: nothing is made, and the log's trace_id is null.
    @Test func offMakesNone() throws {
        let (seen, response, log) = try exchange(["--trace-context", "off"], traceparent: nil)
        #expect(seen.isEmpty)
        #expect(response.header("traceresponse") == nil)
        #expect(log["trace_id"] is NSNull)
    }
}

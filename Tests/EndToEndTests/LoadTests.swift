import Foundation
import Testing

/// Many requests on one connection and many connections at once all succeed.
@Suite(.serialized) struct LoadTests {
    // 10,000 keep-alive requests on one client connection all get 200 (in pipelined batches of 50).
    @Test func tenThousandRequestsOnOneConnection() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--log-format", "none"])
        let client = try RawClient(port: proxy.port)
        var ok = 0
        for batch in 0..<200 {
            var requests = ""
            for index in 0..<50 { requests += "GET /status/200?i=\(batch * 50 + index) HTTP/1.1\r\nHost: x\r\n\r\n" }
            try client.send(requests)
            for _ in 0..<50 where try client.readResponse().status == 200 { ok += 1 }
        }
        #expect(ok == 10_000)
        let metrics = try curl(["\(proxy.baseURL)/metrics"]).output
        #expect(metrics.contains("function_calls_total{method=\"GET\"} 10000\n"))
    }

    // At its defaults the pool keeps every upstream connection the concurrency needed: 200 clients, five rounds of 200 overlapping requests, about 200 upstream connections opened in all (not one per request past a fixed idle count).
    @Test func noUpstreamChurnAboveSixtyFourInFlight() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        // A long idle timeout: a slow machine's pause between rounds must not close what the test counts.
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--log-format", "none", "--upstream-idle-timeout", "120"])
        var clients: [RawClient] = []
        for _ in 0..<200 { clients.append(try RawClient(port: proxy.port, receiveTimeout: 60)) }
        var ok = 0
        for round in 0..<5 {
            for (index, client) in clients.enumerated() {
                try client.send("GET /sleep?ms=100&round=\(round)&i=\(index) HTTP/1.1\r\nHost: x\r\n\r\n")
            }
            for client in clients where try client.readResponse().status == 200 { ok += 1 }
        }
        #expect(ok == 1000)
        let metrics = KubelessRuntimeTests.metrics(try curl(["\(proxy.baseURL)/metrics"]).output)
        let opened = try #require(metrics["runtime_proxy_upstream_connections_opened_total"])
        #expect(opened <= 260, "\(opened) upstream connections opened for 1,000 requests at 200 in flight")
    }

    // 1,000 client connections open at once, each with a request in flight, all get 200.
    @Test func thousandConcurrentConnections() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--log-format", "none"])
        var clients: [RawClient] = []
        for _ in 0..<1000 { clients.append(try RawClient(port: proxy.port, receiveTimeout: 60)) }
        for (index, client) in clients.enumerated() {
            try client.send("GET /sleep?ms=50&i=\(index) HTTP/1.1\r\nHost: x\r\n\r\n")
        }
        var ok = 0
        for client in clients where try client.readResponse().status == 200 { ok += 1 }
        #expect(ok == 1000)
    }
}

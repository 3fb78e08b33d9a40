import Foundation
import Testing

/// The Kubeless contract's extras: log formats, request ids, per-request
/// deadlines, the timeout policy, the admin port and probe logging.
@Suite struct ContractTests {
    private func json(_ line: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    // --log-format json writes one JSON object per request with the documented fields.
    @Test func jsonAccessLog() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--log-format", "json"])
        _ = try curl(["-A", "agent \"quoted\"", "-H", "X-Request-Id: abc-123", "-d", "12345", "\(proxy.baseURL)/status/201?a=b"])
        let line = try #require(proxy.process.waitForLines(count: 1) { $0.hasPrefix("{") }.first)
        let entry = try json(line)
        #expect(entry["method"] as? String == "POST")
        #expect(entry["path"] as? String == "/status/201")
        #expect(entry["query"] as? String == "a=b")
        #expect(entry["protocol"] as? String == "HTTP/1.1")
        #expect(entry["status"] as? Int == 201)
        #expect(entry["request_bytes"] as? Int == 5)
        #expect(entry["response_bytes"] as? Int == "status 201".utf8.count)
        #expect(entry["user_agent"] as? String == "agent \"quoted\"")
        #expect(entry["request_id"] as? String == "abc-123")
        #expect(entry["upstream"] as? String == upstream.address)
        #expect((entry["remote"] as? String)?.hasPrefix("127.0.0.1:") == true)
        #expect(entry["error"] is NSNull)
        #expect((entry["duration"] as? Double).map { $0 >= 0 } == true)
        #expect((entry["ttfb"] as? Double).map { $0 >= 0 } == true)
        #expect((entry["time"] as? String)?.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression) != nil)
    }

    // A request without X-Request-Id gets one: the runtime sees it and the client gets it back.
    @Test func generatedRequestID() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port)
        try client.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        let id = try #require(response.header("X-Request-Id"))
        #expect(id.range(of: "^[0-9a-f]{32}$", options: .regularExpression) != nil)
        #expect(response.bodyText.contains("[\"X-Request-Id\", \"\(id)\"]"))
        try client.send("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().header("X-Request-Id") != id)
    }

    // A client's own X-Request-Id reaches the runtime once and comes back unchanged; traceparent passes untouched.
    @Test func clientRequestIDAndTraceparentKept() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port)
        let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        try client.send("GET /echo HTTP/1.1\r\nHost: x\r\nX-Request-Id: mine-42\r\ntraceparent: \(trace)\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.header("X-Request-Id") == "mine-42")
        #expect(response.bodyText.components(separatedBy: "mine-42").count == 2)
        #expect(response.bodyText.contains("[\"traceparent\", \"\(trace)\"]"))
    }

    // X-Request-Timeout shortens the request timeout, and the runtime never sees the header.
    @Test func requestTimeoutHeaderShortens() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--timeout", "60"])
        let result = try curl(["-H", "X-Request-Timeout: 0.5", "-w", " %{http_code}", "\(proxy.baseURL)/sleep?ms=10000"])
        #expect(result.output == "Timeout exceeded\n 408")
        let echo = try curl(["-H", "X-Request-Timeout: 30", "\(proxy.baseURL)/echo"]).output
        #expect(!echo.lowercased().contains("x-request-timeout"))
    }

    // X-Request-Timeout cannot lengthen the configured timeout.
    @Test func requestTimeoutHeaderCannotLengthen() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--timeout", "0.5"])
        let result = try curl(["-H", "X-Request-Timeout: 600", "-w", " %{http_code}", "\(proxy.baseURL)/sleep?ms=10000"])
        #expect(result.output == "Timeout exceeded\n 408")
        let metrics = try curl(["\(proxy.baseURL)/metrics"]).output
        #expect(metrics.contains("function_timeouts_total{method=\"GET\",timeout=\"request\"} 1\n"))
        #expect(metrics.contains("function_failures_total{method=\"GET\"} 1\n"))
    }

    // A runtime's 5xx counts as a failure of its method, a 4xx does not; --failure-statuses changes the set, and none restores the Go proxy's accounting.
    @Test(arguments: [([String](), 2), (["--failure-statuses", "429,503"], 1), (["--failure-statuses", "none"], 0)])
    func runtimeErrorStatusesAreFailures(arguments: [String], failures: Int) throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: arguments)
        for status in [500, 503, 404, 200] {
            #expect(try curl(["-w", "%{http_code}", "-o", "/dev/null", "\(proxy.baseURL)/status/\(status)"]).output == "\(status)")
        }
        let metrics = try curl(["\(proxy.baseURL)/metrics"]).output
        #expect(metrics.contains("function_calls_total{method=\"GET\"} 4\n"))
        #expect(metrics.contains("function_failures_total{method=\"GET\"} \(failures)\n"), "\(metrics)")
    }

    // --timeout-policy exit: after the 408 the proxy exits with status 1, as the Go proxy did.
    @Test func timeoutPolicyExit() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--timeout", "0.5", "--timeout-policy", "exit"])
        #expect(try curl(["-w", " %{http_code}", "\(proxy.baseURL)/sleep?ms=10000"]).output == "Timeout exceeded\n 408")
        #expect(proxy.process.waitForExit(timeout: 20) == 1)
    }

    // With --admin-port, health and metrics live there and the main port forwards those paths to the runtime.
    @Test func adminPort() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--admin-port", "0"])
        let line = try #require(proxy.process.stderr.first { $0.contains("health and metrics on") })
        let adminPort = try #require(line.split(separator: ":").last.flatMap { Int($0) })
        #expect(try curl(["\(proxy.baseURL)/metrics"]).output.contains("\"target\": \"/metrics\""))
        #expect(try curl(["http://127.0.0.1:\(adminPort)/metrics"]).output.contains("# TYPE function_calls_total counter"))
        #expect(try curl(["http://127.0.0.1:\(adminPort)/healthz"]).output == "OK")
    }

    // Health and metrics probes are not logged by default; --log-probes logs them.
    @Test(arguments: [false, true])
    func probeLogging(logProbes: Bool) throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: logProbes ? ["--log-probes"] : [])
        _ = try curl(["\(proxy.baseURL)/healthz"])
        _ = try curl(["\(proxy.baseURL)/metrics"])
        _ = try curl(["\(proxy.baseURL)/status/204"])
        let lines = proxy.process.waitForLines(count: logProbes ? 3 : 1) { $0.contains("\" ") }
        #expect(lines.contains { $0.contains("/status/204") })
        #expect(lines.contains { $0.contains("/healthz") } == logProbes)
        #expect(lines.contains { $0.contains("/metrics") } == logProbes)
    }

    // /healthz says 503 with a reason when the runtime is down, and 200 once it answers.
    @Test func healthFollowsTheRuntime() throws {
        let port = try FreePort.pick()
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:\(port)", arguments: ["--health-interval", "0.1"])
        let down = try curl(["-w", " %{http_code}", "\(proxy.baseURL)/healthz"]).output
        #expect(down.hasPrefix("runtime not healthy: connect: ECONNREFUSED"))
        #expect(down.hasSuffix(" 503"))
        let upstream = try PythonUpstream("echo_upstream.py", ["\(port)"])
        _ = upstream
        var answer = ""
        for _ in 0..<100 where answer != "OK 200" {
            answer = try curl(["-w", " %{http_code}", "\(proxy.baseURL)/healthz"]).output
            if answer != "OK 200" { usleep(50_000) }
        }
        #expect(answer == "OK 200")
    }
}

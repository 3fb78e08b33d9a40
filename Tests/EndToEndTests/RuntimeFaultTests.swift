import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Faults of the runtime the proxy supervises: killed with a request in
/// flight or with requests queued, and its port taken by another process.
/// (A runtime that hangs without reading: TimeoutTests; killed under load,
/// responses cut mid-way: SupervisionTests.restartUnderLoad.)
@Suite struct RuntimeFaultTests {
    static let runtimeScript = Harness.fixtures.appendingPathComponent("supervised_runtime.py").path

    private func runtimePID(_ proxy: ProxyUnderTest, not previous: Int32? = nil) throws -> Int32 {
        let line = try #require(proxy.process.waitForLine(onStderr: true) { line in
            line.contains("runtime ready after") && !(previous.map { line.contains("pid \($0))") } ?? false)
        })
        return try #require(Int32(line.split(separator: "pid ").last?.dropLast() ?? ""))
    }

    // kill -9 while a request is in flight (read by the runtime): that request gets 502 at once (not a hang), the runtime is started again, and the next request gets 200.
    @Test func killedMidRequest() throws {
        let port = try FreePort.pick()
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:\(port)", arguments: ["--", Harness.python, Self.runtimeScript, "\(port)"])
        let pid = try runtimePID(proxy)
        let client = try RawClient(port: proxy.port, receiveTimeout: 20)
        try client.send("GET /sleep?ms=20000&announce=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        // Read by the runtime, not only sent: a request still in the socket
        // when the runtime dies never reached it, and is rightly sent again.
        #expect(proxy.process.waitForLine { $0 == "SLEEPING" } != nil)
        kill(pid, SIGKILL)
        let response = try client.readResponse()
        #expect(response.status == 502, "\(response.head)")
        _ = try runtimePID(proxy, not: pid)
        #expect(try curl(["\(proxy.baseURL)/after"]).output == "done")
    }

    // kill -9 with one request in flight and two queued behind it (--max-inflight 1): the one in flight gets 502; the queued two wait for the new runtime and get 200.
    @Test func killedWhileRequestsAreQueued() throws {
        let port = try FreePort.pick()
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:\(port)",
                                       arguments: ["--max-inflight", "1", "--", Harness.python, Self.runtimeScript, "\(port)"])
        let pid = try runtimePID(proxy)
        let first = try RawClient(port: proxy.port, receiveTimeout: 30)
        try first.send("GET /sleep?ms=20000&announce=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(proxy.process.waitForLine { $0 == "SLEEPING" } != nil)
        let queued = try (0..<2).map { _ in try RawClient(port: proxy.port, receiveTimeout: 30) }
        for client in queued { try client.send("GET /queued HTTP/1.1\r\nHost: x\r\n\r\n") }
        #expect(proxy.waitForMetric("runtime_proxy_queued_requests", equalTo: 2))
        kill(pid, SIGKILL)
        #expect(try first.readResponse().status == 502)
        for client in queued {
            let response = try client.readResponse()
            #expect(response.status == 200, "\(response.head) \(response.bodyText)")
        }
    }

    // Another process listens on the runtime's port first: the proxy says so, never reports ready and never forwards to that process (503 after the start timeout); once the port is free, the runtime starts and serves.
    @Test func runtimePortTakenByAnotherProcess() throws {
        let impostor = try PythonUpstream("echo_upstream.py", ["0"])
        let port = impostor.port
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:\(port)",
                                       arguments: ["--start-timeout", "1", "--", Harness.python, Self.runtimeScript, "\(port)"])
        #expect(proxy.process.waitForLine(onStderr: true) { $0.contains("127.0.0.1:\(port) is already in use by another process") } != nil)
        let waited = try curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", "\(proxy.baseURL)/echo"])
        #expect(waited.output == "503")
        #expect(!proxy.process.stderr.contains { $0.contains("runtime ready after") })
        impostor.process.signal(SIGKILL)
        _ = try runtimePID(proxy)
        #expect(try curl(["\(proxy.baseURL)/after"]).output == "done")
    }
}

extension ProxyUnderTest {
    /// Polls /metrics until the sample `name` reads `value` (at most 20 s).
    func waitForMetric(_ name: String, equalTo value: Double) -> Bool {
        waitUntil(timeout: 20) {
            let text = (try? curl(["\(baseURL)/metrics"]).output) ?? ""
            return text.split(separator: "\n").contains { line in
                line.hasPrefix(name + " ") && Double(line.split(separator: " ")[1]) == value
            }
        }
    }
}

import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The /metrics output as real Prometheus tools see it: promtool's linter
/// finds nothing to say, and a Prometheus server scraping the proxy over
/// loopback stores the counts of known traffic. Needs Debian's `prometheus`
/// package (scripts/setup.sh installs it).
@Suite struct PrometheusTests {
    static let promtool = "/usr/bin/promtool"
    static let prometheus = "/usr/bin/prometheus"

    // After 7 GETs and 3 POSTs (and, on a second proxy, one 502), `promtool check metrics` exits 0 and prints nothing.
    @Test func promtoolLintsClean() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.promtool), "run scripts/setup.sh to install prometheus")
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        try sendKnownTraffic(to: proxy)
        let refused = try ProxyUnderTest(upstream: "127.0.0.1:\(try FreePort.pick())")
        let client = try RawClient(port: refused.port, receiveTimeout: 10)
        try client.send("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().status == 502)

        let served = try curl(["\(proxy.baseURL)/metrics"])
        #expect(served.status == 0)
        #expect(served.output.contains("function_calls_total{method=\"GET\"} 7\n"))
        #expect(served.output.contains("function_calls_total{method=\"POST\"} 3\n"))
        #expect(served.output.contains("function_duration_seconds_count{method=\"POST\"} 3\n"))
        let failed = try curl(["\(refused.baseURL)/metrics"])
        #expect(failed.status == 0)
        #expect(failed.output.contains("function_failures_total{method=\"GET\"} 1\n"))
        #expect(failed.output.contains("runtime_proxy_responses_total{method=\"GET\",status_class=\"5xx\"} 1\n"))

        for (name, body) in [("forwarding proxy", served.output), ("refused proxy", failed.output)] {
            let check = try runTool(Self.promtool, ["check", "metrics"], input: Data(body.utf8))
            #expect(check.status == 0, "\(name): promtool exited \(check.status): \(check.error)")
            #expect(check.output.isEmpty, "\(name): promtool stdout: \(check.output)")
            #expect(check.error.isEmpty, "\(name): promtool stderr: \(check.error)")
        }
    }

    // A real Prometheus server scraping the proxy every second stores GET calls 7, POST duration count 3 and up 1.
    @Test func prometheusServerScrapesProxy() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.prometheus), "run scripts/setup.sh to install prometheus")
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        try sendKnownTraffic(to: proxy)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("runtime-proxy-prometheus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let job = "runtime-proxy-e2e"
        let configFile = directory.appendingPathComponent("prometheus.yml")
        try """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: \(job)
                metrics_path: /metrics
                scrape_interval: 1s
                scrape_timeout: 1s
                static_configs:
                  - targets: ["127.0.0.1:\(proxy.port)"]

            """.write(to: configFile, atomically: true, encoding: .utf8)

        let port = try FreePort.pick()
        let server = try TestProcess(Self.prometheus, [
            "--config.file=\(configFile.path)",
            "--storage.tsdb.path=\(directory.appendingPathComponent("data").path)",
            "--web.listen-address=127.0.0.1:\(port)",
        ])
        defer {
            server.signal(SIGKILL)
            _ = server.waitForExit(timeout: 10)
        }
        let base = "http://127.0.0.1:\(port)"
        let log = { server.stderr.suffix(15).joined(separator: "\n") }

        let ready = try poll(seconds: 30, while: { server.process.isRunning }) { () -> Bool? in
            let answer = try curl(["-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", "\(base)/-/ready"])
            return answer.output == "200" ? true : nil
        }
        try #require(ready == true, "prometheus not ready on \(base):\n\(log())")

        let calls = try poll(seconds: 30, while: { server.process.isRunning }) { () -> [String]? in
            let values = try queryValues(base, "function_calls_total{method=\"GET\"}")
            return values == ["7"] ? values : nil
        }
        let seen = try calls ?? queryValues(base, "function_calls_total{method=\"GET\"}")
        #expect(seen == ["7"], "GET calls never reached 7 in Prometheus:\n\(log())")
        #expect(try queryValues(base, "function_duration_seconds_count{method=\"POST\"}") == ["3"])
        #expect(try queryValues(base, "function_calls_total{method=\"POST\"}") == ["3"])
        #expect(try queryValues(base, "up{job=\"\(job)\"}") == ["1"])
        #expect(try queryValues(base, "function_duration_seconds_bucket{method=\"GET\",le=\"+Inf\"}") == ["7"])
    }
}

/// Seven GETs and three POSTs through the proxy on one keep-alive connection, each answered 200.
private func sendKnownTraffic(to proxy: ProxyUnderTest) throws {
    let client = try RawClient(port: proxy.port)
    for index in 0..<7 {
        try client.send("GET /get/\(index) HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().status == 200)
    }
    for index in 0..<3 {
        try client.send("POST /post/\(index) HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        #expect(try client.readResponse().status == 200)
    }
}

/// The values of an instant query's result vector, as Prometheus' HTTP API
/// returns them (strings); empty on any error.
private func queryValues(_ base: String, _ query: String) throws -> [String] {
    let answer = try curl(["-G", "--max-time", "5", "--data-urlencode", "query=\(query)", "\(base)/api/v1/query"])
    guard answer.status == 0,
          let json = try? JSONSerialization.jsonObject(with: Data(answer.output.utf8)) as? [String: Any],
          json["status"] as? String == "success",
          let data = json["data"] as? [String: Any],
          data["resultType"] as? String == "vector",
          let vector = data["result"] as? [[String: Any]] else { return [] }
    return vector.compactMap { ($0["value"] as? [Any])?.last as? String }
}

/// Calls `attempt` until it returns a value, every `interval` seconds, at most
/// `seconds` long and `seconds / interval + 1` times, while `alive` holds.
private func poll<T>(seconds: TimeInterval, every interval: TimeInterval = 0.2, while alive: () -> Bool,
                     _ attempt: () throws -> T?) throws -> T? {
    let deadline = Date().addingTimeInterval(seconds)
    for _ in 0...Int(seconds / interval) {
        if let value = try attempt() { return value }
        if Date() >= deadline || !alive() { return nil }
        usleep(useconds_t(interval * 1_000_000))
    }
    return nil
}

/// Runs a tool with `input` on stdin; returns its exit status, stdout and stderr.
private func runTool(_ path: String, _ arguments: [String], input: Data) throws -> (status: Int32, output: String, error: String) {
    let result = try runToCompletion(path, arguments, input: input)
    return (result.status, String(decoding: result.output, as: UTF8.self), String(decoding: result.error, as: UTF8.self))
}

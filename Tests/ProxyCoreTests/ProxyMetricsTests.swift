import ProxyHTTP
import Testing
@testable import ProxyCore

/// The /metrics text ProxyMetrics renders: the Kubeless Go proxy's three
/// families byte for byte, per-method series only for methods seen, and the
/// proxy's own gauges and counters.
@Suite struct ProxyMetricsTests {
    static let les = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]

    private func context(_ process: ProcessStats = ProcessStats(startTimeSeconds: 1_700_000_000.75)) -> ProxyMetrics.ScrapeContext {
        ProxyMetrics.ScrapeContext(openClientConnections: 0, idleUpstreamConnections: 0, logLinesDropped: 0, process: process)
    }

    private func render(_ metrics: ProxyMetrics, _ process: ProcessStats = ProcessStats(startTimeSeconds: 1_700_000_000.75)) -> String {
        String(decoding: metrics.render(context(process)), as: UTF8.self)
    }

    private func exchange(_ metrics: ProxyMetrics, _ method: HTTPMethod, status: Int = 200, seconds: Double, failed: Bool = false,
                          timedOut: Bool = false, requestBytes: Int = 0, responseBytes: Int = 0) {
        metrics.exchangeStarted()
        metrics.exchangeEnded(method: method, status: status, failed: failed, timeout: timedOut ? .request : nil,
                              durationNanoseconds: UInt64(seconds * 1e9), requestBytes: requestBytes, responseBytes: responseBytes)
    }

    /// The bucket, sum and count lines of one method's series.
    private func histogramLines(_ name: String, _ method: String, _ cumulative: [Int], sum: String) -> String {
        zip(Self.les, cumulative).map { "\(name)_bucket{method=\"\(method)\",le=\"\($0)\"} \($1)\n" }.joined()
            + "\(name)_sum{method=\"\(method)\"} \(sum)\n\(name)_count{method=\"\(method)\"} \(cumulative.last ?? -1)\n"
    }

    /// The rendered text before the first family that is not the Go proxy's.
    private func goFamilies(_ text: String) throws -> String {
        let end = try #require(text.firstRange(of: "# HELP function_timeouts_total"))
        return String(text[..<end.lowerBound])
    }

    // The Go proxy's three families, exactly: names, help, types, method label, le values, cumulative buckets, sum and count.
    @Test func goFamiliesExactText() throws {
        let metrics = ProxyMetrics(startTimeSeconds: 0)
        exchange(metrics, .get, seconds: 0.25)
        exchange(metrics, .get, seconds: 0.5)
        exchange(metrics, .get, status: 408, seconds: 12, failed: true, timedOut: true)
        exchange(metrics, .post, status: 502, seconds: 1, failed: true)
        exchange(metrics, .other, seconds: 2.5)
        let expected = """
            # HELP function_calls_total Number of calls to user function
            # TYPE function_calls_total counter
            function_calls_total{method="GET"} 3
            function_calls_total{method="POST"} 1
            function_calls_total{method="OTHER"} 1
            # HELP function_failures_total Number of exceptions in user function
            # TYPE function_failures_total counter
            function_failures_total{method="GET"} 1
            function_failures_total{method="POST"} 1
            function_failures_total{method="OTHER"} 0
            # HELP function_duration_seconds Duration of user function in seconds
            # TYPE function_duration_seconds histogram

            """
            + histogramLines("function_duration_seconds", "GET", [0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 3], sum: "12.75")
            + histogramLines("function_duration_seconds", "POST", [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1], sum: "1")
            + histogramLines("function_duration_seconds", "OTHER", [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1], sum: "2.5")
        #expect(try goFamilies(render(metrics)) == expected)
    }

    // Before any exchange the Go families have their HELP and TYPE lines and no samples.
    @Test func goFamiliesWithoutTraffic() throws {
        let expected = """
            # HELP function_calls_total Number of calls to user function
            # TYPE function_calls_total counter
            # HELP function_failures_total Number of exceptions in user function
            # TYPE function_failures_total counter
            # HELP function_duration_seconds Duration of user function in seconds
            # TYPE function_duration_seconds histogram

            """
        #expect(try goFamilies(render(ProxyMetrics(startTimeSeconds: 0))) == expected)
    }

    // Methods never seen have no series in any family.
    @Test func unseenMethodsDoNotAppear() {
        let metrics = ProxyMetrics(startTimeSeconds: 0)
        exchange(metrics, .get, seconds: 0.001)
        metrics.recordFirstByte(method: .get, nanoseconds: 1_000_000)
        let text = render(metrics)
        #expect(text.contains("function_calls_total{method=\"GET\"} 1\n"))
        for method in ["DELETE", "HEAD", "POST", "PUT", "CONNECT", "OPTIONS", "TRACE", "PATCH", "OTHER"] {
            #expect(!text.contains("method=\"\(method)\""), "\(method) appears")
        }
    }

    // Every HTTPMethod maps to its own label; .other (any method llhttp does not name) folds into OTHER.
    @Test(arguments: [
        (HTTPMethod.delete, "DELETE"), (.get, "GET"), (.head, "HEAD"), (.post, "POST"), (.put, "PUT"), (.connect, "CONNECT"),
        (.options, "OPTIONS"), (.trace, "TRACE"), (.patch, "PATCH"), (.other, "OTHER"),
    ])
    func methodLabels(method: HTTPMethod, label: String) {
        #expect(ProxyMetrics.methodLabels[ProxyMetrics.labelIndex(method)] == label)
        let metrics = ProxyMetrics(startTimeSeconds: 0)
        exchange(metrics, method, seconds: 0.01)
        exchange(metrics, method, seconds: 0.01)
        #expect(render(metrics).contains("function_calls_total{method=\"\(label)\"} 2\n"))
    }

    // The in-flight gauge rises with each started exchange and falls with each ended one.
    @Test func inFlightGaugeUpAndDown() {
        let metrics = ProxyMetrics(startTimeSeconds: 0)
        let line = { (value: Int) in "runtime_proxy_requests_in_flight \(value)\n" }
        #expect(render(metrics).contains(line(0)))
        metrics.exchangeStarted()
        metrics.exchangeStarted()
        metrics.exchangeStarted()
        #expect(render(metrics).contains(line(3)))
        metrics.exchangeEnded(method: .get, status: 200, failed: false, timeout: nil, durationNanoseconds: 1, requestBytes: 0, responseBytes: 0)
        #expect(render(metrics).contains(line(2)))
        metrics.exchangeEnded(method: .get, status: 200, failed: false, timeout: nil, durationNanoseconds: 1, requestBytes: 0, responseBytes: 0)
        metrics.exchangeEnded(method: .get, status: 200, failed: false, timeout: nil, durationNanoseconds: 1, requestBytes: 0, responseBytes: 0)
        #expect(render(metrics).contains(line(0)))
        #expect(metrics.inFlight == 0)
    }

    // Responses count by method and status class, only non-zero classes appear, statuses outside 100..599 count in no class.
    @Test func statusClasses() throws {
        let metrics = ProxyMetrics(startTimeSeconds: 0)
        for status in [101, 200, 204, 301, 404, 404, 599, 99, 600, 0] { exchange(metrics, .get, status: status, seconds: 0.001) }
        exchange(metrics, .put, status: 503, seconds: 0.001)
        let text = render(metrics)
        let start = try #require(text.firstRange(of: "# HELP runtime_proxy_responses_total"))
        let end = try #require(text.firstRange(of: "# HELP runtime_proxy_time_to_first_byte_seconds"))
        #expect(text[start.lowerBound..<end.lowerBound] == """
            # HELP runtime_proxy_responses_total Responses sent for proxied requests, by method and status class
            # TYPE runtime_proxy_responses_total counter
            runtime_proxy_responses_total{method="GET",status_class="1xx"} 1
            runtime_proxy_responses_total{method="GET",status_class="2xx"} 2
            runtime_proxy_responses_total{method="GET",status_class="3xx"} 1
            runtime_proxy_responses_total{method="GET",status_class="4xx"} 2
            runtime_proxy_responses_total{method="GET",status_class="5xx"} 1
            runtime_proxy_responses_total{method="PUT",status_class="5xx"} 1

            """)
        #expect(text.contains("function_calls_total{method=\"GET\"} 10\n"))
    }

    // Timeouts, body bytes and first-byte times: first-byte series only for methods that got a response head.
    @Test func timeoutsBytesAndFirstByte() {
        let metrics = ProxyMetrics(startTimeSeconds: 0)
        exchange(metrics, .post, status: 408, seconds: 3, failed: true, timedOut: true, requestBytes: 100, responseBytes: 0)
        exchange(metrics, .get, seconds: 0.5, requestBytes: 0, responseBytes: 4096)
        metrics.recordFirstByte(method: .get, nanoseconds: 250_000_000)
        let text = render(metrics)
        #expect(text.contains("""
            function_timeouts_total{method="GET",timeout="request"} 0
            function_timeouts_total{method="GET",timeout="response_start"} 0
            function_timeouts_total{method="GET",timeout="response_idle"} 0
            function_timeouts_total{method="POST",timeout="request"} 1
            function_timeouts_total{method="POST",timeout="response_start"} 0
            function_timeouts_total{method="POST",timeout="response_idle"} 0

            """))
        #expect(text.contains("runtime_proxy_request_body_bytes_total 100\n"))
        #expect(text.contains("runtime_proxy_response_body_bytes_total 4096\n"))
        #expect(text.contains(histogramLines("runtime_proxy_time_to_first_byte_seconds", "GET",
                                             [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1], sum: "0.25")))
        #expect(!text.contains("runtime_proxy_time_to_first_byte_seconds_count{method=\"POST\"}"))
    }

    // The whole exposition with no traffic: every family in order, scrape context and process stats included.
    @Test func fullTextWithoutTraffic() {
        let metrics = ProxyMetrics(startTimeSeconds: 0)
        metrics.upstreamConnectErrors = 2
        metrics.upstreamRetries = 1
        let process = ProcessStats(cpuSeconds: 1.25, residentBytes: 10_485_760, virtualBytes: 104_857_600, openDescriptors: 12,
                                   maxDescriptors: 1024, startTimeSeconds: 1_700_000_000.75)
        let scrape = ProxyMetrics.ScrapeContext(openClientConnections: 3, idleUpstreamConnections: 4, logLinesDropped: 5, process: process)
        #expect(String(decoding: metrics.render(scrape), as: UTF8.self) == """
            # HELP function_calls_total Number of calls to user function
            # TYPE function_calls_total counter
            # HELP function_failures_total Number of exceptions in user function
            # TYPE function_failures_total counter
            # HELP function_duration_seconds Duration of user function in seconds
            # TYPE function_duration_seconds histogram
            # HELP function_timeouts_total Number of calls to user function that ran past their timeout
            # TYPE function_timeouts_total counter
            # HELP runtime_proxy_responses_total Responses sent for proxied requests, by method and status class
            # TYPE runtime_proxy_responses_total counter
            # HELP runtime_proxy_time_to_first_byte_seconds Time from a request head to the upstream's response head, in seconds
            # TYPE runtime_proxy_time_to_first_byte_seconds histogram
            # HELP runtime_proxy_requests_in_flight Proxied requests waiting for or receiving a response
            # TYPE runtime_proxy_requests_in_flight gauge
            runtime_proxy_requests_in_flight 0
            # HELP runtime_proxy_client_connections Open client connections
            # TYPE runtime_proxy_client_connections gauge
            runtime_proxy_client_connections 3
            # HELP runtime_proxy_upstream_idle_connections Idle keep-alive connections to the upstream
            # TYPE runtime_proxy_upstream_idle_connections gauge
            runtime_proxy_upstream_idle_connections 4
            # HELP runtime_proxy_upstream_connect_errors_total Upstream connections that could not be established
            # TYPE runtime_proxy_upstream_connect_errors_total counter
            runtime_proxy_upstream_connect_errors_total 2
            # HELP runtime_proxy_upstream_retries_total Requests sent again after a pooled upstream connection failed
            # TYPE runtime_proxy_upstream_retries_total counter
            runtime_proxy_upstream_retries_total 1
            # HELP runtime_proxy_request_body_bytes_total Request body bytes received from clients
            # TYPE runtime_proxy_request_body_bytes_total counter
            runtime_proxy_request_body_bytes_total 0
            # HELP runtime_proxy_response_body_bytes_total Response body bytes received from the upstream
            # TYPE runtime_proxy_response_body_bytes_total counter
            runtime_proxy_response_body_bytes_total 0
            # HELP runtime_proxy_log_lines_dropped_total Access log lines dropped because stdout could not keep up
            # TYPE runtime_proxy_log_lines_dropped_total counter
            runtime_proxy_log_lines_dropped_total 5
            # HELP runtime_proxy_upstream_connections_opened_total Connections opened to the upstream
            # TYPE runtime_proxy_upstream_connections_opened_total counter
            runtime_proxy_upstream_connections_opened_total 0
            # HELP runtime_proxy_queued_requests Requests waiting for the runtime to be ready or for a free slot
            # TYPE runtime_proxy_queued_requests gauge
            runtime_proxy_queued_requests 0
            # HELP runtime_proxy_queue_rejections_total Requests turned away with 503 because the queue was full
            # TYPE runtime_proxy_queue_rejections_total counter
            runtime_proxy_queue_rejections_total 0
            # HELP runtime_proxy_build_info Build information; always 1
            # TYPE runtime_proxy_build_info gauge
            runtime_proxy_build_info{version="0.1.0"} 1
            # HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
            # TYPE process_cpu_seconds_total counter
            process_cpu_seconds_total 1.25
            # HELP process_open_fds Number of open file descriptors.
            # TYPE process_open_fds gauge
            process_open_fds 12
            # HELP process_max_fds Maximum number of open file descriptors.
            # TYPE process_max_fds gauge
            process_max_fds 1024
            # HELP process_resident_memory_bytes Resident memory size in bytes.
            # TYPE process_resident_memory_bytes gauge
            process_resident_memory_bytes 10485760
            # HELP process_virtual_memory_bytes Virtual memory size in bytes.
            # TYPE process_virtual_memory_bytes gauge
            process_virtual_memory_bytes 104857600
            # HELP process_start_time_seconds Start time of the process since unix epoch in seconds.
            # TYPE process_start_time_seconds gauge
            process_start_time_seconds 1700000000

            """)
    }

    // Without /proc numbers only process_start_time_seconds is left of the process families.
    @Test func processFamiliesWithoutProc() throws {
        let text = render(ProxyMetrics(startTimeSeconds: 0), ProcessStats(startTimeSeconds: 42.9))
        let start = try #require(text.firstRange(of: "runtime_proxy_build_info{"))
        let processLines = text[start.upperBound...].split(separator: "\n").filter { $0.contains("process_") }
        #expect(processLines == [
            "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
            "# TYPE process_start_time_seconds gauge",
            "process_start_time_seconds 42",
        ])
    }
}

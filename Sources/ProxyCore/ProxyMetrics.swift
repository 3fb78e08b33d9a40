import PrometheusText
import ProxyHTTP

/// The numbers behind `/metrics`. The Kubeless Go proxy's three families keep
/// its names, help texts, label and buckets exactly, so `kubeless function
/// top` and existing dashboards keep working; the proxy's own families use
/// the `runtime_proxy_` prefix. Updated with plain arithmetic on the loop
/// thread; text is made only when scraped (docs/metrics.md lists them all).
final class ProxyMetrics {
    /// Methods outside this set share the label `OTHER`, so label values stay bounded.
    static let methodLabels = ["DELETE", "GET", "HEAD", "POST", "PUT", "CONNECT", "OPTIONS", "TRACE", "PATCH", "OTHER"]
    static let statusClassLabels = ["1xx", "2xx", "3xx", "4xx", "5xx"]
    static let version = runtimeProxyVersion

    struct PerMethod {
        var calls = 0
        var failures = 0
        /// By `timeoutKinds`.
        var timeouts = [Int](repeating: 0, count: ProxyMetrics.timeoutKinds.count)
        var duration: Histogram
        var firstByte: Histogram
        var responsesByClass = [Int](repeating: 0, count: 5)
    }

    private var perMethod: [PerMethod]
    private let methodLabelSets: [Labels]
    /// The timeouts that count in `function_timeouts_total`, each its `timeout` label.
    static let timeoutKinds: [TimeoutKind] = [.request, .responseStart, .responseIdle]
    /// `method` and `timeout` labels, per method, per kind.
    private let timeoutLabelSets: [[Labels]]
    private(set) var inFlight = 0
    var upstreamConnectErrors = 0
    var upstreamRetries = 0
    var requestBodyBytes = 0
    var responseBodyBytes = 0
    let startTimeSeconds: Double

    /// Labels of `runtime_proxy_workload_info`, when the platform names the workload.
    let workloadLabels: Labels?

    init(durationBuckets: [Double] = ProxyConfig.Defaults.durationBuckets, startTimeSeconds: Double, workload: Workload? = nil) {
        workloadLabels = workload.map {
            Labels(["configuration": $0.configuration, "revision": $0.revision, "service": $0.service])
        }
        let empty = PerMethod(duration: Histogram(bounds: durationBuckets), firstByte: Histogram(bounds: durationBuckets))
        perMethod = [PerMethod](repeating: empty, count: Self.methodLabels.count)
        methodLabelSets = Self.methodLabels.map { Labels(["method": $0]) }
        timeoutLabelSets = Self.methodLabels.map { method in Self.timeoutKinds.map { Labels(["method": method, "timeout": $0.rawValue]) } }
        self.startTimeSeconds = startTimeSeconds
    }

    /// A request went (or is about to go) upstream.
    func exchangeStarted() { inFlight += 1 }

    /// The upstream's response head arrived.
    func recordFirstByte(method: HTTPMethod, nanoseconds: UInt64) {
        perMethod[Self.labelIndex(method)].firstByte.observe(Double(nanoseconds) / 1e9)
    }

    /// An exchange ended: `failed` when the function answered with a failure
    /// status (`--failure-statuses`, every 5xx by default) or the proxy failed
    /// it (502, 504, a timeout, a cut response); `timeout`: the function's
    /// timeout that ended it (request, response start, response idle).
    func exchangeEnded(method: HTTPMethod, status: Int, failed: Bool, timeout: TimeoutKind?, durationNanoseconds: UInt64,
                       requestBytes: Int, responseBytes: Int) {
        inFlight -= 1
        let index = Self.labelIndex(method)
        perMethod[index].calls += 1
        if failed { perMethod[index].failures += 1 }
        if let timeout, let kind = Self.timeoutKinds.firstIndex(of: timeout) { perMethod[index].timeouts[kind] += 1 }
        perMethod[index].duration.observe(Double(durationNanoseconds) / 1e9)
        if (100..<600).contains(status) { perMethod[index].responsesByClass[status / 100 - 1] += 1 }
        requestBodyBytes += requestBytes
        responseBodyBytes += responseBytes
    }

    static func labelIndex(_ method: HTTPMethod) -> Int {
        switch method {
        case .delete: 0
        case .get: 1
        case .head: 2
        case .post: 3
        case .put: 4
        case .connect: 5
        case .options: 6
        case .trace: 7
        case .patch: 8
        case .other: 9
        }
    }

    /// What only the server knows at scrape time.
    struct ScrapeContext {
        var openClientConnections: Int
        var idleUpstreamConnections: Int
        var logLinesDropped: Int
        var upstreamConnectionsOpened = 0
        var queuedRequests = 0
        var queueRejections = 0
        /// Present when the proxy supervises the runtime.
        var runtime: RuntimeFigures? = nil
        var process: ProcessStats
        /// The container's memory (cgroup), where it shows.
        var container = CgroupMemory()
    }

    struct RuntimeFigures {
        var up: Bool
        var restarts: Int
        var startupMilliseconds: UInt64?
        var lastExitStatus: Int32?
        var orphansReaped: Int
        var oomKills = 0
        /// The running runtime's process tree; nil while none runs.
        var resources: RuntimeResources?
    }

    /// The Prometheus text exposition, format 0.0.4.
    func render(_ context: ScrapeContext) -> [UInt8] {
        var out = ExpositionWriter()
        let used = perMethod.indices.filter { perMethod[$0].calls > 0 }
        out.family("function_calls_total", .counter, help: "Number of calls to user function")
        for index in used { out.sample("function_calls_total", labels: methodLabelSets[index], perMethod[index].calls) }
        out.family("function_failures_total", .counter, help: "Number of exceptions in user function")
        for index in used { out.sample("function_failures_total", labels: methodLabelSets[index], perMethod[index].failures) }
        out.family("function_duration_seconds", .histogram, help: "Duration of user function in seconds")
        for index in used { out.histogram("function_duration_seconds", labels: methodLabelSets[index], perMethod[index].duration) }

        out.family("function_timeouts_total", .counter, help: "Number of calls to user function that ran past their timeout")
        for index in used {
            for kind in Self.timeoutKinds.indices {
                out.sample("function_timeouts_total", labels: timeoutLabelSets[index][kind], perMethod[index].timeouts[kind])
            }
        }
        out.family("runtime_proxy_responses_total", .counter, help: "Responses sent for proxied requests, by method and status class")
        for index in used {
            for (classIndex, label) in Self.statusClassLabels.enumerated() where perMethod[index].responsesByClass[classIndex] > 0 {
                out.sample("runtime_proxy_responses_total", labels: Labels(["method": Self.methodLabels[index], "status_class": label]),
                           perMethod[index].responsesByClass[classIndex])
            }
        }
        out.family("runtime_proxy_time_to_first_byte_seconds", .histogram,
                   help: "Time from a request head to the upstream's response head, in seconds")
        for index in used where perMethod[index].firstByte.count > 0 {
            out.histogram("runtime_proxy_time_to_first_byte_seconds", labels: methodLabelSets[index], perMethod[index].firstByte)
        }
        gauge(&out, "runtime_proxy_requests_in_flight", "Proxied requests waiting for or receiving a response", inFlight)
        gauge(&out, "runtime_proxy_client_connections", "Open client connections", context.openClientConnections)
        gauge(&out, "runtime_proxy_upstream_idle_connections", "Idle keep-alive connections to the upstream", context.idleUpstreamConnections)
        counter(&out, "runtime_proxy_upstream_connect_errors_total", "Upstream connections that could not be established", upstreamConnectErrors)
        counter(&out, "runtime_proxy_upstream_retries_total", "Requests sent again after a pooled upstream connection failed", upstreamRetries)
        counter(&out, "runtime_proxy_request_body_bytes_total", "Request body bytes received from clients", requestBodyBytes)
        counter(&out, "runtime_proxy_response_body_bytes_total", "Response body bytes received from the upstream", responseBodyBytes)
        counter(&out, "runtime_proxy_log_lines_dropped_total", "Access log lines dropped because stdout could not keep up", context.logLinesDropped)
        counter(&out, "runtime_proxy_upstream_connections_opened_total", "Connections opened to the upstream", context.upstreamConnectionsOpened)
        gauge(&out, "runtime_proxy_queued_requests", "Requests waiting for the runtime to be ready or for a free slot", context.queuedRequests)
        counter(&out, "runtime_proxy_queue_rejections_total", "Requests turned away with 503 because the queue was full", context.queueRejections)
        if let runtime = context.runtime {
            gauge(&out, "runtime_proxy_runtime_up", "1 when the supervised runtime answers, 0 otherwise", runtime.up ? 1 : 0)
            counter(&out, "runtime_proxy_runtime_restarts_total", "Times the supervised runtime was started again", runtime.restarts)
            counter(&out, "runtime_proxy_orphans_reaped_total", "Orphaned processes reaped by the proxy as subreaper", runtime.orphansReaped)
            if let startup = runtime.startupMilliseconds {
                out.family("runtime_proxy_runtime_startup_seconds", .gauge, help: "Time from the last start of the runtime until it answered")
                out.sample("runtime_proxy_runtime_startup_seconds", Double(startup) / 1000)
            }
            if let status = runtime.lastExitStatus {
                gauge(&out, "runtime_proxy_runtime_last_exit_status", "Exit status of the runtime's last exit (128+signal if killed)",
                      Int(status))
            }
            counter(&out, "runtime_proxy_runtime_oom_kills_total", "Times the runtime was killed by the out-of-memory killer", runtime.oomKills)
            if let tree = runtime.resources {
                if let rss = tree.residentBytes {
                    gauge(&out, "runtime_proxy_runtime_resident_memory_bytes", "Resident memory of the runtime and its descendants", rss)
                }
                if let cpu = tree.cpuSeconds {
                    counterValue(&out, "runtime_proxy_runtime_cpu_seconds_total", "User and system CPU time of the runtime and its live descendants", cpu)
                }
                if let count = tree.processCount {
                    gauge(&out, "runtime_proxy_runtime_processes", "Processes in the runtime's tree (the runtime and its descendants)", count)
                }
                if let fds = tree.openDescriptors {
                    gauge(&out, "runtime_proxy_runtime_open_fds", "Open descriptors of the runtime's tree (where they can be listed)", fds)
                }
            }
        }
        if let limit = context.container.limitBytes {
            gauge(&out, "runtime_proxy_container_memory_limit_bytes", "The container's memory limit (cgroup)", limit)
        }
        if let usage = context.container.usageBytes {
            gauge(&out, "runtime_proxy_container_memory_usage_bytes", "The container's memory usage (cgroup)", usage)
        }
        if let kills = context.container.oomKills {
            counter(&out, "runtime_proxy_container_oom_kills_total", "Processes the out-of-memory killer ended in the container (cgroup)", kills)
        }
        out.family("runtime_proxy_build_info", .gauge, help: "Build information; always 1")
        out.sample("runtime_proxy_build_info", labels: Labels(["version": Self.version]), 1)
        if let workloadLabels {
            out.family("runtime_proxy_workload_info", .gauge, help: "The Knative or Cloud Run workload served (K_SERVICE, K_REVISION, K_CONFIGURATION); always 1")
            out.sample("runtime_proxy_workload_info", labels: workloadLabels, 1)
        }

        let process = context.process
        if let cpu = process.cpuSeconds { counterValue(&out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", cpu) }
        if let fds = process.openDescriptors { gauge(&out, "process_open_fds", "Number of open file descriptors.", fds) }
        if let max = process.maxDescriptors { gauge(&out, "process_max_fds", "Maximum number of open file descriptors.", max) }
        if let rss = process.residentBytes { gauge(&out, "process_resident_memory_bytes", "Resident memory size in bytes.", rss) }
        if let vsize = process.virtualBytes { gauge(&out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", vsize) }
        out.family("process_start_time_seconds", .gauge, help: "Start time of the process since unix epoch in seconds.")
        out.sample("process_start_time_seconds", process.startTimeSeconds.rounded(.down))
        return out.bytes
    }

    private func gauge(_ out: inout ExpositionWriter, _ name: String, _ help: String, _ value: Int) {
        out.family(name, .gauge, help: help)
        out.sample(name, value)
    }

    private func counter(_ out: inout ExpositionWriter, _ name: String, _ help: String, _ value: Int) {
        out.family(name, .counter, help: help)
        out.sample(name, value)
    }

    private func counterValue(_ out: inout ExpositionWriter, _ name: String, _ help: String, _ value: Double) {
        out.family(name, .counter, help: help)
        out.sample(name, value)
    }
}

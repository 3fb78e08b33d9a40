import ProxyHTTP

/// The counters behind `/metrics`: the Kubeless Go proxy's families, named and
/// described exactly as it did, so its dashboards keep working. Plain integer
/// updates on the loop thread; text is made only when scraped.
final class ProxyMetrics {
    /// The Prometheus client's default buckets, which the Go proxy used.
    static let durationBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    /// Methods outside this set share the label `OTHER`, so label values stay bounded.
    static let bucketLabels = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"]
    static let methodLabels = ["DELETE", "GET", "HEAD", "POST", "PUT", "CONNECT", "OPTIONS", "TRACE", "PATCH", "OTHER"]

    struct PerMethod {
        var calls = 0
        var failures = 0
        var bucketCounts = [Int](repeating: 0, count: ProxyMetrics.durationBuckets.count)
        var durationSum = 0.0
    }

    private var perMethod = [PerMethod](repeating: PerMethod(), count: ProxyMetrics.methodLabels.count)
    var upstreamConnectErrors = 0
    var timeouts = 0
    var firstBytes = 0

    func recordFirstByte() { firstBytes += 1 }

    func record(method: HTTPMethod, methodBytes: ArraySlice<UInt8>, status: Int, failed: Bool, durationNanoseconds: UInt64) {
        let index = Self.labelIndex(method)
        let seconds = Double(durationNanoseconds) / 1e9
        perMethod[index].calls += 1
        if failed { perMethod[index].failures += 1 }
        perMethod[index].durationSum += seconds
        for (bucket, bound) in Self.durationBuckets.enumerated() where seconds <= bound {
            perMethod[index].bucketCounts[bucket] += 1
        }
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

    /// Prometheus text exposition format 0.0.4.
    func render() -> [UInt8] {
        var text = ""
        text += "# HELP function_calls_total Number of calls to user function\n# TYPE function_calls_total counter\n"
        for (index, label) in Self.methodLabels.enumerated() where perMethod[index].calls > 0 {
            text += "function_calls_total{method=\"\(label)\"} \(perMethod[index].calls)\n"
        }
        text += "# HELP function_failures_total Number of exceptions in user function\n# TYPE function_failures_total counter\n"
        for (index, label) in Self.methodLabels.enumerated() where perMethod[index].calls > 0 {
            text += "function_failures_total{method=\"\(label)\"} \(perMethod[index].failures)\n"
        }
        text += "# HELP function_duration_seconds Duration of user function in seconds\n# TYPE function_duration_seconds histogram\n"
        for (index, label) in Self.methodLabels.enumerated() where perMethod[index].calls > 0 {
            let counts = perMethod[index]
            for (bucket, bound) in Self.bucketLabels.enumerated() {
                text += "function_duration_seconds_bucket{method=\"\(label)\",le=\"\(bound)\"} \(counts.bucketCounts[bucket])\n"
            }
            text += "function_duration_seconds_bucket{method=\"\(label)\",le=\"+Inf\"} \(counts.calls)\n"
            text += "function_duration_seconds_sum{method=\"\(label)\"} \(counts.durationSum)\n"
            text += "function_duration_seconds_count{method=\"\(label)\"} \(counts.calls)\n"
        }
        text += "# HELP runtime_proxy_upstream_connect_errors_total Upstream connections that could not be established\n"
        text += "# TYPE runtime_proxy_upstream_connect_errors_total counter\n"
        text += "runtime_proxy_upstream_connect_errors_total \(upstreamConnectErrors)\n"
        text += "# HELP function_timeouts_total Requests that ran past their timeout\n# TYPE function_timeouts_total counter\n"
        text += "function_timeouts_total \(timeouts)\n"
        return Array(text.utf8)
    }
}

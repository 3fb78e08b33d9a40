import ProxyHTTP
import ProxySystem

/// Where requests go: the language runtime's HTTP server.
public enum UpstreamTarget: Sendable, CustomStringConvertible {
    case tcp(SocketAddress)
    case unix(path: String)

    public var description: String {
        switch self {
        case .tcp(let address): address.description
        case .unix(let path): "unix:\(path)"
        }
    }
}

/// Every knob of the proxy, resolved and validated (see docs/configuration.md).
public struct ProxyConfig: Sendable {
    /// The address and port clients connect to (`FUNC_PORT`, all interfaces).
    public var listenAddress: SocketAddress
    public var upstream: UpstreamTarget

    /// Whole request: from the request head until the response is complete (`FUNC_TIMEOUT`).
    public var requestTimeoutMilliseconds = Defaults.requestTimeoutMilliseconds
    /// From the first byte of a request until its head is complete (slowloris guard).
    public var headerTimeoutMilliseconds = Defaults.headerTimeoutMilliseconds
    /// A client keep-alive connection with no request in progress.
    public var clientIdleTimeoutMilliseconds = Defaults.clientIdleTimeoutMilliseconds
    /// Establishing a new upstream connection.
    public var connectTimeoutMilliseconds = Defaults.connectTimeoutMilliseconds
    /// A pooled upstream connection waiting for its next request.
    public var upstreamIdleTimeoutMilliseconds = Defaults.upstreamIdleTimeoutMilliseconds
    /// An upgraded (tunnelled) connection with no bytes either way.
    public var tunnelIdleTimeoutMilliseconds = Defaults.tunnelIdleTimeoutMilliseconds
    /// Whole request upstream -> first response byte; 0: off (the default).
    public var responseStartTimeoutMilliseconds: UInt64 = 0
    /// No byte either way while a response is under way; 0: off (the default).
    public var responseIdleTimeoutMilliseconds: UInt64 = 0
    /// At most this many idle upstream connections. Not a working-set size:
    /// idle connections close after `upstreamIdleTimeoutMilliseconds`, and the
    /// pool keeps what the peak concurrency needed (no connection is opened
    /// per request at steady load). Only a guard for descriptors; `nil`:
    /// `Defaults.maxIdleUpstreamConnections(openFileLimit:)`, resolved at start.
    public var maxIdleUpstreamConnections: Int?

    public var headLimits = HeadLimits(requiresHost: true)
    public var healthPath = Defaults.healthPath
    public var metricsPath = Defaults.metricsPath
    /// Serve the health and metrics routes on this port instead of the main
    /// one, so no function path is shadowed. `nil`: on the main port.
    public var adminPort: Int?
    public var accessLog = Defaults.accessLog
    /// Log requests to the health and metrics routes too.
    public var logProbes = false
    /// How long access-log lines may wait to be written together on a pipe (LogOutput); 0: each loop turn.
    public var logFlushIntervalMilliseconds = Defaults.logFlushIntervalMilliseconds
    public var timeoutPolicy = Defaults.timeoutPolicy
    /// Runtime answers that count in `function_failures_total` (`--failure-statuses`).
    public var failureStatuses = FailureStatuses.parse(Defaults.failureStatuses)!
    /// Upper bounds of the duration and time-to-first-byte histograms.
    public var durationBuckets = Defaults.durationBuckets
    /// Path of the runtime's own health check, asked by the cached check.
    public var upstreamHealthPath = Defaults.upstreamHealthPath
    /// How long a health check result is reused.
    public var healthIntervalMilliseconds = Defaults.healthIntervalMilliseconds

    // Supervision (docs/operations.md)
    /// The runtime to start and watch: `/bin/sh -c FUNC_PROCESS`, or the
    /// arguments after `--`. `nil`: the runtime runs elsewhere.
    public var runtimeCommand: [String]?
    /// The Knative (and Cloud Run) workload the proxy serves, from
    /// `K_SERVICE`, `K_REVISION` and `K_CONFIGURATION`; nil elsewhere.
    public var workload: Workload?
    /// Set for the runtime over the proxy's own environment: `PORT` and
    /// `FUNC_PORT` are the upstream's port, so a server that binds `$PORT`
    /// (gunicorn, Flask, Express, the Knative samples) or `$FUNC_PORT` (the
    /// Kubeless Node and Python runtimes) listens where the proxy forwards.
    /// Nothing for a Unix socket upstream.
    public var runtimeEnvironment: [(name: String, value: String)] {
        guard case .tcp(let address) = upstream else { return [] }
        return [("PORT", String(address.port)), ("FUNC_PORT", String(address.port))]
    }
    public var restartPolicy = Defaults.restartPolicy
    /// With a runtime command, a path on the runtime that must answer 2xx
    /// before it counts as ready (otherwise: accepting a connection is enough).
    public var readyPath: String?
    /// How long a request waits for a runtime that is not ready yet.
    public var startTimeoutMilliseconds = Defaults.startTimeoutMilliseconds
    /// How long a request waits for a free slot under `maxInFlight`.
    public var queueTimeoutMilliseconds = Defaults.queueTimeoutMilliseconds
    /// At most this many requests upstream at once (`nil`: no limit).
    public var maxInFlight: Int?
    /// At most this many requests waiting; more get 503.
    public var maxQueued = Defaults.maxQueued
    /// `--buffer-request-body`: a chunked request body is collected, up to
    /// this many bytes, and sent with `Content-Length` (413 past it). nil: off.
    public var requestBodyBufferLimit: Int?
    /// The bytes all connections together may hold collecting bodies; a
    /// body that would pass it gets 503 with Retry-After.
    public var requestBodyBufferTotal = Defaults.requestBodyBufferTotal
    /// Make a W3C `traceparent` for requests that come without one (`--trace-context`).
    public var generateTraceContext = true
    /// Map a binary-mode CloudEvent's `ce-*` attributes to Kubeless `event-*` headers (`--cloud-events`).
    public var mapCloudEvents = true
    /// After SIGTERM: how long new connections are still accepted.
    public var drainDelayMilliseconds = Defaults.drainDelayMilliseconds
    /// After the listener closes: how long in-flight requests may take (`SHUTDOWN_TIMEOUT`).
    public var shutdownTimeoutMilliseconds = Defaults.shutdownTimeoutMilliseconds
    /// SIGTERM to SIGKILL for the runtime's process group.
    public var stopGraceMilliseconds = Defaults.stopGraceMilliseconds

    public init(listenAddress: SocketAddress, upstream: UpstreamTarget) {
        self.listenAddress = listenAddress
        self.upstream = upstream
    }
}

extension ProxyConfig {
    /// Every default, stated once: the properties above start from these,
    /// and the command line falls back to them and prints them in `--help`.
    /// Durations are milliseconds (the command line takes and shows seconds).
    public enum Defaults {
        /// The port to listen on (`FUNC_PORT`), on all IPv4 interfaces.
        public static let port = 8080
        public static let listenHost = "0.0.0.0"
        /// Where a Kubeless runtime listens.
        public static let upstream = "127.0.0.1:8090"
        /// `FUNC_TIMEOUT`, as the Kubeless proxy had it.
        public static let requestTimeoutMilliseconds: UInt64 = 180_000
        public static let headerTimeoutMilliseconds: UInt64 = 15_000
        public static let clientIdleTimeoutMilliseconds: UInt64 = 75_000
        public static let connectTimeoutMilliseconds: UInt64 = 5_000
        /// Below Node's 5 s keep-alive, so the proxy closes an idle connection, not the runtime.
        public static let upstreamIdleTimeoutMilliseconds: UInt64 = 4_000
        public static let tunnelIdleTimeoutMilliseconds: UInt64 = 300_000
        public static let healthPath = "/healthz"
        public static let metricsPath = "/metrics"
        public static let accessLog = AccessLogFormat.text
        public static let logFlushIntervalMilliseconds: UInt64 = 10
        /// Without a runtime to start (there is none to restart).
        public static let timeoutPolicy = TimeoutPolicy.none
        /// With a runtime to start.
        public static let timeoutPolicyWithRuntime = TimeoutPolicy.restart
        /// As `--failure-statuses` takes it: every 5xx.
        public static let failureStatuses = "5xx"
        /// Prometheus' default buckets, which the Go proxy used.
        public static let durationBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
        public static let upstreamHealthPath = "/healthz"
        public static let healthIntervalMilliseconds: UInt64 = 2_000
        public static let restartPolicy = SupervisorStateMachine.RestartPolicy.always
        public static let startTimeoutMilliseconds: UInt64 = 30_000
        public static let queueTimeoutMilliseconds: UInt64 = 30_000
        public static let maxQueued = 1024
        public static let requestBodyBufferTotal = 32 * 1024 * 1024
        public static let drainDelayMilliseconds: UInt64 = 3_000
        public static let shutdownTimeoutMilliseconds: UInt64 = 10_000
        public static let stopGraceMilliseconds: UInt64 = 10_000

        /// Half the open-file limit (`nil`: unknown, taken as 65,536), at least one.
        public static func maxIdleUpstreamConnections(openFileLimit: Int?) -> Int {
            max(1, (openFileLimit ?? 65536) / 2)
        }
    }
}

public enum AccessLogFormat: String, Sendable, CaseIterable {
    /// The Kubeless Go proxy's line, followed by the duration.
    case text
    /// One JSON object per line.
    case json
    case none
}

/// What happens to a function that ran past its timeout, after its client got 408.
public enum TimeoutPolicy: String, Sendable, CaseIterable {
    /// Restart the runtime (SIGTERM to its process group, SIGKILL after the
    /// grace period, then a fresh start). The default when the proxy starts
    /// the runtime; without a runtime to restart it acts as `none`.
    case restart
    /// Abandon the request only; the runtime keeps running.
    case none
    /// Exit the proxy one second later (status 1), as the Go proxy did, so
    /// the platform restarts the container.
    case exit
}

/// The workload as Knative and Cloud Run name it for the container.
public struct Workload: Sendable, Equatable {
    public var service: String
    public var revision: String
    public var configuration: String

    /// From the environment's `K_SERVICE`, `K_REVISION`, `K_CONFIGURATION`
    /// (`lookup` returns a variable's value); nil when none is set.
    public init?(lookup: (String) -> String?) {
        let service = lookup("K_SERVICE"), revision = lookup("K_REVISION"), configuration = lookup("K_CONFIGURATION")
        guard service != nil || revision != nil || configuration != nil else { return nil }
        self.service = service ?? ""
        self.revision = revision ?? ""
        self.configuration = configuration ?? ""
    }

    /// `service S, revision R, configuration C` (the parts that are set).
    public var description: String {
        [("service", service), ("revision", revision), ("configuration", configuration)]
            .filter { !$0.1.isEmpty }.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
    }
}

import ArgumentParser
private import CStartup
import ProxyCore
import ProxyHTTP
import ProxySystem

#if canImport(Glibc)
import Glibc
#endif

private typealias Defaults = ProxyConfig.Defaults

/// A default duration as `--help` shows it: in seconds, as the option takes it.
private func seconds(_ milliseconds: UInt64) -> String { ConfigParsing.secondsText(milliseconds: milliseconds) }

/// `runtime-proxy`: the HTTP sidecar in front of a function runtime.
/// Every option falls back to an environment variable, then to its default;
/// a flag wins over the environment (docs/configuration.md).
struct RuntimeProxyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runtime-proxy",
        abstract: "A fast HTTP/1.1 sidecar reverse proxy for serverless function runtimes (drop-in for the Kubeless proxy).",
        discussion: "Durations are in seconds and may have a fraction (0.5). Bad values exit with status 64 before any port is bound.",
        version: BuildInfo.description)

    @Option(help: "Port to listen on, all interfaces (env FUNC_PORT, else PORT, default \(Defaults.port)).")
    var port: Int?

    @Option(help: "Address to listen on (env PROXY_LISTEN_ADDRESS, default \(Defaults.listenHost): all IPv4 interfaces; use :: for IPv6 too).")
    var listenAddress: String?

    @Option(help: "Upstream runtime: host:port, [v6]:port, unix:/path or /path (env PROXY_UPSTREAM, default \(Defaults.upstream)).")
    var upstream: String?

    @Option(help: "Whole-request timeout: request head to complete response (env FUNC_TIMEOUT, default \(seconds(Defaults.requestTimeoutMilliseconds))).")
    var timeout: String?

    @Option(help: "Time allowed for a request head to arrive, from its first byte (env PROXY_HEADER_TIMEOUT, default \(seconds(Defaults.headerTimeoutMilliseconds))).")
    var headerTimeout: String?

    @Option(help: "Idle time allowed on a client keep-alive connection between requests (env PROXY_CLIENT_IDLE_TIMEOUT, default \(seconds(Defaults.clientIdleTimeoutMilliseconds))).")
    var clientIdleTimeout: String?

    @Option(help: "Time allowed to open an upstream connection; past it the client gets 504 (env PROXY_CONNECT_TIMEOUT, default \(seconds(Defaults.connectTimeoutMilliseconds))).")
    var connectTimeout: String?

    @Option(help: "Idle time after which a pooled upstream connection is closed (env PROXY_UPSTREAM_IDLE_TIMEOUT, default \(seconds(Defaults.upstreamIdleTimeoutMilliseconds))).")
    var upstreamIdleTimeout: String?

    @Option(help: "Idle time after which an upgraded (WebSocket) connection is closed (env PROXY_TUNNEL_IDLE_TIMEOUT, default \(seconds(Defaults.tunnelIdleTimeoutMilliseconds))).")
    var tunnelIdleTimeout: String?

    @Option(help: "Seconds from the whole request reaching the runtime to its first response byte; past it, 504 (env PROXY_RESPONSE_START_TIMEOUT, default off).")
    var responseStartTimeout: String?

    @Option(help: "Seconds a response under way may carry no byte either way; past it, the response is cut (env PROXY_RESPONSE_IDLE_TIMEOUT, default off).")
    var responseIdleTimeout: String?

    @Option(help: "At most this many idle upstream connections; idle ones close after --upstream-idle-timeout (env PROXY_MAX_IDLE_UPSTREAM, default: half the open-file limit).")
    var maxIdleUpstream: Int?

    @Option(help: "Health check path answered by the proxy (env PROXY_HEALTH_PATH, default \(Defaults.healthPath)).")
    var healthPath: String?

    @Option(help: "Prometheus metrics path answered by the proxy (env PROXY_METRICS_PATH, default \(Defaults.metricsPath)).")
    var metricsPath: String?

    @Option(help: "Serve the health and metrics routes on this port instead of the main one (env PROXY_ADMIN_PORT, default: main port).")
    var adminPort: Int?

    @Option(help: "Access log format: text (the Kubeless proxy's line), json or none (env PROXY_LOG_FORMAT, default \(Defaults.accessLog.rawValue)).")
    var logFormat: String?

    @Flag(help: "Log requests to the health and metrics routes too (env PROXY_LOG_PROBES=1).")
    var logProbes = false

    @Option(help: "On a pipe, access-log lines are written together at most this often; 0 writes each loop turn's lines at once (env PROXY_LOG_FLUSH_INTERVAL, default \(seconds(Defaults.logFlushIntervalMilliseconds))).")
    var logFlushInterval: String?

    @Option(help: "After a request timeout: restart (the runtime), none (abandon the request) or exit (exit 1 s later, as the Go proxy did) (env PROXY_TIMEOUT_POLICY, default \(Defaults.timeoutPolicyWithRuntime.rawValue) with a runtime to start, \(Defaults.timeoutPolicy.rawValue) without).")
    var timeoutPolicy: String?

    @Option(help: "When the runtime exits: always (restart it with backoff) or exit (exit with its status) (env PROXY_RESTART_POLICY, default \(Defaults.restartPolicy.rawValue)).")
    var restartPolicy: String?

    @Option(help: "A path on the runtime that must answer 2xx before it counts as ready (env PROXY_READY_PATH, default: accepting a connection is enough).")
    var readyPath: String?

    @Option(help: "How long a request waits for a runtime that is not ready yet; then 503 (env PROXY_START_TIMEOUT, default \(seconds(Defaults.startTimeoutMilliseconds))).")
    var startTimeout: String?

    @Option(help: "At most this many requests upstream at once; others wait (env PROXY_MAX_INFLIGHT, default: no limit).")
    var maxInflight: Int?

    @Option(help: "At most this many requests waiting for the runtime or a slot; more get 503 (env PROXY_MAX_QUEUE, default \(Defaults.maxQueued)).")
    var maxQueue: Int?

    @Option(help: "How long a request waits for a slot under --max-inflight; then 503 (env PROXY_QUEUE_TIMEOUT, default \(seconds(Defaults.queueTimeoutMilliseconds))).")
    var queueTimeout: String?

    @Option(help: "After SIGTERM, how long new connections are still accepted (env PROXY_DRAIN_DELAY, default \(seconds(Defaults.drainDelayMilliseconds))).")
    var drainDelay: String?

    @Option(help: "After the listener closes, how long in-flight requests may take (env SHUTDOWN_TIMEOUT, default \(seconds(Defaults.shutdownTimeoutMilliseconds))).")
    var shutdownTimeout: String?

    @Option(help: "How long the runtime gets between SIGTERM and SIGKILL (env PROXY_STOP_TIMEOUT, default \(seconds(Defaults.stopGraceMilliseconds))).")
    var stopTimeout: String?

    @Argument(parsing: .postTerminator, help: "The runtime to start and watch, run directly (no shell); FUNC_PROCESS is run with /bin/sh -c instead (a simple command as exec, so the runtime itself is watched).")
    var runtime: [String] = []

    @Option(help: "Collect a chunked request body, up to SIZE bytes (k, m, g: KiB, MiB, GiB), and send it with Content-Length, for runtimes that cannot read chunked uploads; larger ones get 413 (env PROXY_BUFFER_REQUEST_BODY, default off).")
    var bufferRequestBody: String?

    @Option(help: "The bytes all connections together may hold collecting request bodies; past it, 503 with Retry-After (env PROXY_BUFFER_REQUEST_TOTAL, default \(ConfigParsing.byteSizeText(Defaults.requestBodyBufferTotal))).")
    var bufferRequestTotal: String?

    @Option(help: "on: a request without a W3C traceparent gets one made here (sent upstream, returned as traceresponse); off: traceparent only passes through (env PROXY_TRACE_CONTEXT, default on).")
    var traceContext: String?

    @Option(help: "on: a binary-mode CloudEvent's ce-id, ce-type, ce-time and ce-source also reach the runtime as the Kubeless event-id, event-type, event-time and event-namespace headers (a client's own event-* header wins); off: ce-* headers only pass through (env PROXY_CLOUD_EVENTS, default on).")
    var cloudEvents: String?

    @Option(help: "Statuses from the runtime that count as function failures: codes and classes such as 5xx,429, or none (env PROXY_FAILURE_STATUSES, default \(Defaults.failureStatuses)).")
    var failureStatuses: String?

    @Option(help: "Upper bounds of the duration histograms, in seconds, comma-separated (env PROXY_DURATION_BUCKETS, default \(ConfigParsing.bucketsText(Defaults.durationBuckets))).")
    var durationBuckets: String?

    @Option(help: "The runtime's own health path, asked by the cached health check (env PROXY_UPSTREAM_HEALTH_PATH, default \(Defaults.upstreamHealthPath)).")
    var upstreamHealthPath: String?

    @Option(help: "How long a health check result is reused (env PROXY_HEALTH_INTERVAL, default \(seconds(Defaults.healthIntervalMilliseconds))).")
    var healthInterval: String?

    func run() throws {
        var config = try makeConfig()
        raiseOpenFileLimit()
        if config.maxIdleUpstreamConnections == nil {
            // Only a guard for descriptors: idle connections close by time,
            // and the pool holds what the peak concurrency needed.
            config.maxIdleUpstreamConnections = Defaults.maxIdleUpstreamConnections(openFileLimit: SystemInfo.openFileLimit)
        }
        let server: ProxyServer
        do {
            server = try ProxyServer(config: config)
            try server.start()
        } catch {
            SystemInfo.writeToStandardError("runtime-proxy: cannot listen on \(config.listenAddress): \(error)\n")
            throw ExitCode(71)
        }
        let host = config.listenAddress.isIPv6 ? "[\(config.listenAddress.host)]" : config.listenAddress.host
        let admin = server.boundAdminPort.map { ", health and metrics on \(host):\($0)" } ?? ""
        server.log("listening on \(host):\(server.boundPort), forwarding to \(config.upstream)\(admin)")
        if let workload = config.workload { server.log("serving Knative \(workload.description)") }
        server.run()
        Glibc.exit(server.exitStatus)
    }

    private func makeConfig() throws -> ProxyConfig {
        let environment = Environment()
        // FUNC_PORT (Kubeless) wins over PORT (Knative, Cloud Run).
        let portValue = try port ?? environment.integer("FUNC_PORT") ?? environment.integer("PORT") ?? Defaults.port
        guard (0...65535).contains(portValue) else { throw ValidationError("port \(portValue) is not between 0 and 65535") }
        let listenText = listenAddress ?? environment["PROXY_LISTEN_ADDRESS"]
        guard let listen = ConfigParsing.listenAddress(listenText, port: portValue) else {
            throw ValidationError("listen address '\(listenText ?? "")' is not a numeric IPv4 or IPv6 address")
        }
        let upstreamText = upstream ?? environment["PROXY_UPSTREAM"] ?? Defaults.upstream
        guard let target = ConfigParsing.upstream(upstreamText) else {
            throw ValidationError("upstream '\(upstreamText)' is not host:port, [v6]:port, unix:/path or /path")
        }
        var config = ProxyConfig(listenAddress: listen, upstream: target)
        config.workload = Workload { environment[$0] }
        config.requestTimeoutMilliseconds = try duration(timeout, "--timeout", env: "FUNC_TIMEOUT", environment,
                                                         default: Defaults.requestTimeoutMilliseconds)
        config.headerTimeoutMilliseconds = try duration(headerTimeout, "--header-timeout", env: "PROXY_HEADER_TIMEOUT", environment,
                                                        default: Defaults.headerTimeoutMilliseconds)
        config.clientIdleTimeoutMilliseconds = try duration(clientIdleTimeout, "--client-idle-timeout", env: "PROXY_CLIENT_IDLE_TIMEOUT",
                                                            environment, default: Defaults.clientIdleTimeoutMilliseconds)
        config.connectTimeoutMilliseconds = try duration(connectTimeout, "--connect-timeout", env: "PROXY_CONNECT_TIMEOUT", environment,
                                                         default: Defaults.connectTimeoutMilliseconds)
        config.upstreamIdleTimeoutMilliseconds = try duration(upstreamIdleTimeout, "--upstream-idle-timeout", env: "PROXY_UPSTREAM_IDLE_TIMEOUT",
                                                              environment, default: Defaults.upstreamIdleTimeoutMilliseconds)
        config.tunnelIdleTimeoutMilliseconds = try duration(tunnelIdleTimeout, "--tunnel-idle-timeout", env: "PROXY_TUNNEL_IDLE_TIMEOUT",
                                                            environment, default: Defaults.tunnelIdleTimeoutMilliseconds)
        config.responseStartTimeoutMilliseconds = try duration(responseStartTimeout, "--response-start-timeout",
                                                               env: "PROXY_RESPONSE_START_TIMEOUT", environment, default: 0, allowOff: true)
        config.responseIdleTimeoutMilliseconds = try duration(responseIdleTimeout, "--response-idle-timeout",
                                                              env: "PROXY_RESPONSE_IDLE_TIMEOUT", environment, default: 0, allowOff: true)
        if let maxIdle = try maxIdleUpstream ?? environment.integer("PROXY_MAX_IDLE_UPSTREAM") {
            guard maxIdle >= 0 else { throw ValidationError("max idle upstream connections must be 0 or more, not \(maxIdle)") }
            config.maxIdleUpstreamConnections = maxIdle
        }
        config.healthPath = try path(healthPath ?? environment["PROXY_HEALTH_PATH"] ?? Defaults.healthPath, name: "health path")
        config.metricsPath = try path(metricsPath ?? environment["PROXY_METRICS_PATH"] ?? Defaults.metricsPath, name: "metrics path")
        let formatText = logFormat ?? environment["PROXY_LOG_FORMAT"] ?? Defaults.accessLog.rawValue
        guard let format = AccessLogFormat(rawValue: formatText) else {
            throw ValidationError("log format '\(formatText)' is not one of: \(AccessLogFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        config.accessLog = format
        config.logProbes = logProbes || environment["PROXY_LOG_PROBES"] == "1"
        config.logFlushIntervalMilliseconds = try duration(logFlushInterval, "--log-flush-interval", env: "PROXY_LOG_FLUSH_INTERVAL",
                                                           environment, default: Defaults.logFlushIntervalMilliseconds, allowZero: true)
        if !runtime.isEmpty {
            config.runtimeCommand = runtime
        } else if let process = environment["FUNC_PROCESS"] {
            config.runtimeCommand = ShellCommand.arguments(for: process)
        }
        let restartText = restartPolicy ?? environment["PROXY_RESTART_POLICY"] ?? Defaults.restartPolicy.rawValue
        guard let restart = SupervisorStateMachine.RestartPolicy(rawValue: restartText) else {
            throw ValidationError("restart policy '\(restartText)' is not one of: always, exit")
        }
        config.restartPolicy = restart
        if let ready = readyPath ?? environment["PROXY_READY_PATH"] { config.readyPath = try path(ready, name: "ready path") }
        config.startTimeoutMilliseconds = try duration(startTimeout, "--start-timeout", env: "PROXY_START_TIMEOUT", environment,
                                                       default: Defaults.startTimeoutMilliseconds)
        config.queueTimeoutMilliseconds = try duration(queueTimeout, "--queue-timeout", env: "PROXY_QUEUE_TIMEOUT", environment,
                                                       default: Defaults.queueTimeoutMilliseconds)
        config.drainDelayMilliseconds = try duration(drainDelay, "--drain-delay", env: "PROXY_DRAIN_DELAY", environment,
                                                     default: Defaults.drainDelayMilliseconds, allowZero: true)
        config.shutdownTimeoutMilliseconds = try duration(shutdownTimeout, "--shutdown-timeout", env: "SHUTDOWN_TIMEOUT", environment,
                                                          default: Defaults.shutdownTimeoutMilliseconds, allowZero: true)
        config.stopGraceMilliseconds = try duration(stopTimeout, "--stop-timeout", env: "PROXY_STOP_TIMEOUT", environment,
                                                    default: Defaults.stopGraceMilliseconds, allowZero: true)
        if let limit = try maxInflight ?? environment.integer("PROXY_MAX_INFLIGHT") {
            guard limit > 0 else { throw ValidationError("max in-flight requests must be 1 or more, not \(limit)") }
            config.maxInFlight = limit
        }
        let queueLimit = try maxQueue ?? environment.integer("PROXY_MAX_QUEUE") ?? Defaults.maxQueued
        guard queueLimit >= 0 else { throw ValidationError("max queued requests must be 0 or more, not \(queueLimit)") }
        config.maxQueued = queueLimit
        let defaultPolicy = config.runtimeCommand == nil ? Defaults.timeoutPolicy : Defaults.timeoutPolicyWithRuntime
        let policyText = timeoutPolicy ?? environment["PROXY_TIMEOUT_POLICY"] ?? defaultPolicy.rawValue
        guard let policy = TimeoutPolicy(rawValue: policyText) else {
            throw ValidationError("timeout policy '\(policyText)' is not one of: \(TimeoutPolicy.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        config.timeoutPolicy = policy
        if let bucketsText = durationBuckets ?? environment["PROXY_DURATION_BUCKETS"] {
            guard let buckets = ConfigParsing.buckets(bucketsText) else {
                throw ValidationError("duration buckets '\(bucketsText)' are not ascending positive numbers separated by commas")
            }
            config.durationBuckets = buckets
        }
        if let sizeText = bufferRequestBody ?? environment["PROXY_BUFFER_REQUEST_BODY"], sizeText != "off" {
            guard let size = ConfigParsing.byteSize(sizeText), size > 0 else {
                throw ValidationError("request body buffer '\(sizeText)' is not off or a size above 0 (bytes, or with k, m, g)")
            }
            config.requestBodyBufferLimit = size
        }
        if let totalText = bufferRequestTotal ?? environment["PROXY_BUFFER_REQUEST_TOTAL"] {
            guard let total = ConfigParsing.byteSize(totalText), total > 0 else {
                throw ValidationError("request body buffer total '\(totalText)' is not a size above 0 (bytes, or with k, m, g)")
            }
            config.requestBodyBufferTotal = total
        }
        switch traceContext ?? environment["PROXY_TRACE_CONTEXT"] ?? "on" {
        case "on": config.generateTraceContext = true
        case "off": config.generateTraceContext = false
        case let other: throw ValidationError("trace context '\(other)' is not on or off")
        }
        switch cloudEvents ?? environment["PROXY_CLOUD_EVENTS"] ?? "on" {
        case "on": config.mapCloudEvents = true
        case "off": config.mapCloudEvents = false
        case let other: throw ValidationError("cloud events '\(other)' is not on or off")
        }
        if let statusesText = failureStatuses ?? environment["PROXY_FAILURE_STATUSES"] {
            guard let statuses = FailureStatuses.parse(statusesText) else {
                throw ValidationError("failure statuses '\(statusesText)' are not none or codes and classes (500, 5xx) separated by commas")
            }
            config.failureStatuses = statuses
        }
        if let admin = try adminPort ?? environment.integer("PROXY_ADMIN_PORT") {
            guard (0...65535).contains(admin) else { throw ValidationError("admin port \(admin) is not between 0 and 65535") }
            config.adminPort = admin
        }
        config.upstreamHealthPath = try path(upstreamHealthPath ?? environment["PROXY_UPSTREAM_HEALTH_PATH"] ?? Defaults.upstreamHealthPath,
                                             name: "upstream health path")
        config.healthIntervalMilliseconds = try duration(healthInterval, "--health-interval", env: "PROXY_HEALTH_INTERVAL",
                                                         environment, default: Defaults.healthIntervalMilliseconds)
        return config
    }

    private func duration(_ flag: String?, _ flagName: String, env name: String, _ environment: Environment,
                          default milliseconds: UInt64, allowZero: Bool = false, allowOff: Bool = false) throws -> UInt64 {
        let text = flag ?? environment[name]
        guard let text else { return milliseconds }
        if allowOff, text == "off" { return 0 }
        if allowZero, let value = Double(text), value == 0 { return 0 }
        guard let milliseconds = ConfigParsing.milliseconds(text) else {
            throw ValidationError("\(flag != nil ? flagName : name) value '\(text)' is not a positive number of seconds")
        }
        return milliseconds
    }

    /// Each proxied request holds two descriptors; a container's default soft
    /// limit (often 1024) is far below its hard limit, so take the hard one.
    private func raiseOpenFileLimit() {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(RLIMIT_NOFILE_VALUE, &limit)
    }

    private func path(_ text: String, name: String) throws -> String {
        guard text.hasPrefix("/"), !text.contains(" ") else { throw ValidationError("\(name) '\(text)' must start with / and hold no spaces") }
        return text
    }
}

/// What `--version` prints.
enum BuildInfo {
    static let version = runtimeProxyVersion
    #if DEBUG
    static let configuration = "debug"
    #else
    static let configuration = "release"
    #endif
    #if compiler(>=6.3)
    static let compiler = "Swift 6.3+"
    #else
    static let compiler = "Swift 6.2"
    #endif

    static var description: String {
        "runtime-proxy \(version) (\(configuration) build, \(compiler), libuv \(EventLoop.libuvVersion), llhttp \(HTTPParser.llhttpVersion))"
    }
}

/// The process environment, read once.
struct Environment {
    private let values: [String: String]

    init() {
        var values: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                values[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        self.values = values
    }

    subscript(name: String) -> String? {
        guard let value = values[name], !value.isEmpty else { return nil }
        return value
    }

    func integer(_ name: String) throws -> Int? {
        guard let text = self[name] else { return nil }
        guard let value = Int(text) else { throw ValidationError("\(name)='\(text)' is not a whole number") }
        return value
    }
}

#if os(Linux)
private let RLIMIT_NOFILE_VALUE = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
#else
private let RLIMIT_NOFILE_VALUE = RLIMIT_NOFILE
#endif

/// The arguments after the program name, as the kernel passed them (see
/// CStartup: CommandLine.arguments is empty where there is no /proc).
func processArguments() -> [String] {
    guard let argv = rp_startup_argv() else { return Array(CommandLine.arguments.dropFirst()) }
    return (1..<Int(rp_startup_argc())).compactMap { argv[$0].map { String(cString: $0) } }
}

/// Like `ParsableCommand.main()`, but a usage error is one line on stderr
/// (`runtime-proxy: reason`) and exit status 64, with no usage text after it:
/// a log collector shows the reason, not a help page.
func runCommand() -> Never {
    do {
        var command = try RuntimeProxyCommand.parseAsRoot(processArguments())
        try command.run()
        exit(0)
    } catch {
        let code = RuntimeProxyCommand.exitCode(for: error)
        if code == .success {
            print(RuntimeProxyCommand.fullMessage(for: error))
            exit(0)
        }
        let message = RuntimeProxyCommand.message(for: error)
        if !message.isEmpty {
            SystemInfo.writeToStandardError("runtime-proxy: " + message.split(separator: "\n").joined(separator: " ") + "\n")
        }
        exit(code.rawValue)
    }
}

runCommand()

import ProxyHTTP
import ProxySystem

/// The proxy: its listeners, client connections, upstream pool, health
/// monitor, metrics and access log, all on one loop.
public final class ProxyServer: SignalWatcherDelegate {
    public let config: ProxyConfig
    let loop: EventLoop
    let pool: UpstreamPool
    let metrics: ProxyMetrics
    let accessLog: AccessLog
    let health: HealthMonitor
    let timeoutDurations: ClientTimeouts.Durations
    /// Runtime answers counted as failures of the function.
    let failureStatuses: FailureStatuses
    var requestIDs = RequestIDGenerator()
    private var listener: TCPListener?
    private var adminListener: TCPListener?
    private var connections: [ObjectIdentifier: ClientConnection] = [:]
    private var signalWatchers: [SignalWatcher] = []
    private var exitTimer: Timer?
    private let shutdownTimer: Timer
    private var shutdown: ShutdownSequence
    var admission: AdmissionQueue<ClientConnection>
    /// What connections collecting request bodies hold together.
    var bodyBudget: RequestBodyBudget
    private(set) var supervisor: RuntimeSupervisor?
    /// The status the process exits with once `run()` returns.
    public private(set) var exitStatus: Int32 = 0
    public var isDraining: Bool { shutdown.isDraining }
    private let healthPath: [UInt8]
    private let metricsPath: [UInt8]
    private let logOutput: LogOutput?

    public init(config: ProxyConfig) throws(UVError) {
        self.config = config
        loop = try EventLoop()
        loop.readsInSmallPieces = true  // no exchange in flight yet
        pool = UpstreamPool(loop: loop, config: config)
        metrics = ProxyMetrics(durationBuckets: config.durationBuckets, startTimeSeconds: SystemInfo.wallClockSeconds,
                               workload: config.workload)
        logOutput = config.accessLog == .none ? nil : LogOutput(loop: loop, batchMilliseconds: config.logFlushIntervalMilliseconds)
        accessLog = AccessLog(format: config.accessLog, output: logOutput, upstream: config.upstream.description)
        health = HealthMonitor(loop: loop, pool: pool, config: config)
        timeoutDurations = ClientTimeouts.Durations(
            clientIdle: config.clientIdleTimeoutMilliseconds, headerRead: config.headerTimeoutMilliseconds,
            upstreamConnect: config.connectTimeoutMilliseconds, request: config.requestTimeoutMilliseconds,
            tunnelIdle: config.tunnelIdleTimeoutMilliseconds, responseStart: config.responseStartTimeoutMilliseconds,
            responseIdle: config.responseIdleTimeoutMilliseconds)
        failureStatuses = config.failureStatuses
        healthPath = Array(config.healthPath.utf8)
        metricsPath = Array(config.metricsPath.utf8)
        shutdownTimer = Timer(loop: loop)
        shutdown = ShutdownSequence(drainDelay: config.drainDelayMilliseconds, shutdownTimeout: config.shutdownTimeoutMilliseconds)
        // Without a runtime to start, the runtime is someone else's: take it as ready.
        bodyBudget = RequestBodyBudget(limit: config.requestBodyBufferTotal)
        admission = AdmissionQueue(maxInFlight: config.maxInFlight, maxQueued: config.maxQueued,
                                   runtimeReady: config.runtimeCommand == nil)
        shutdownTimer.delegate = TimerAction { [unowned self] in
            perform(shutdown.tick(now: loop.nowMilliseconds, openConnections: connections.count))
        }
    }

    /// Binds the ports; connections are accepted once `run()` runs.
    public func start() throws(UVError) {
        let listener = try TCPListener(loop: loop, address: config.listenAddress)
        listener.delegate = Acceptor(server: self, isAdmin: false)
        self.listener = listener
        if let adminPort = config.adminPort, let address = SocketAddress(host: config.listenAddress.host, port: adminPort) {
            let admin = try TCPListener(loop: loop, address: address)
            admin.delegate = Acceptor(server: self, isAdmin: true)
            adminListener = admin
        }
        // SIGTERM: Kubernetes starts a graceful shutdown. SIGINT: the same, from a terminal.
        for signal in [Signal.terminate, .interrupt] {
            let watcher = try SignalWatcher(loop: loop, signal: signal)
            watcher.delegate = self
            signalWatchers.append(watcher)
        }
        if let command = config.runtimeCommand {
            let supervisor = try RuntimeSupervisor(server: self, command: command)
            self.supervisor = supervisor
            supervisor.start()
        }
        if let reason = logOutput?.blockingReason { log("access log written with blocking writes: \(reason)") }
        if SystemInfo.readFile("/proc/self/stat") == nil { log("no /proc: process_* metrics other than start time and fd limit are left out") }
    }

    /// The main port actually bound (the configured one, or the kernel's pick for 0).
    public var boundPort: Int { listener?.boundPort ?? 0 }
    public var boundAdminPort: Int? { adminListener?.boundPort }

    /// Runs the loop until the proxy has shut down.
    public func run() { loop.run() }

    // MARK: Connections

    /// Each listener's delegate: it knows which port it serves.
    private final class Acceptor: TCPListenerDelegate {
        unowned let server: ProxyServer
        let isAdmin: Bool

        init(server: ProxyServer, isAdmin: Bool) {
            self.server = server
            self.isAdmin = isAdmin
        }

        func listener(_ listener: TCPListener, didAccept stream: Stream) { server.accept(stream, isAdmin: isAdmin) }
        func listener(_ listener: TCPListener, didFailToAccept error: UVError) { server.acceptFailed(error) }
    }

    private func accept(_ stream: Stream, isAdmin: Bool) {
        let connection = ClientConnection(server: self, stream: stream, isAdmin: isAdmin)
        connections[ObjectIdentifier(connection)] = connection
        connection.start()
    }

    private func acceptFailed(_ error: UVError) {
        // Out of descriptors: the listener pauses and tries again
        // (TCPListener.acceptRetryMilliseconds) while clients wait in the
        // backlog. Say so at most once a second, with the count.
        acceptFailures += 1
        let now = loop.nowMilliseconds
        guard acceptFailures == 1 && lastAcceptFailureLog == 0 || now >= lastAcceptFailureLog + 1_000 else { return }
        lastAcceptFailureLog = now
        log("accept failed: \(error) (\(acceptFailures) time(s) since the last report)")
        acceptFailures = 0
    }

    private var acceptFailures = 0
    private var lastAcceptFailureLog: UInt64 = 0

    func connectionDidClose(_ connection: ClientConnection) {
        connections.removeValue(forKey: ObjectIdentifier(connection))
        if isDraining { perform(shutdown.connectionsChanged(openConnections: connections.count)) }
    }

    // MARK: Admission and the runtime's state

    func releaseAdmission() {
        for waiting in admission.release() { waiting.admit() }
    }

    func runtimeBecameReady() {
        health.runtimeAnswered()
        for waiting in admission.setRuntimeReady(true) { waiting.admit() }
    }

    func runtimeWentDown() {
        _ = admission.setRuntimeReady(false)
        health.runtimeUnreachable("runtime not running")
        pool.closeAll()
    }

    func exchangeStarted() {
        metrics.exchangeStarted()
        exchangesInFlightChanged()
    }

    /// Reads in small pieces while at most one exchange is in flight (see
    /// `EventLoop.readsInSmallPieces`): latency at low load, fewer system
    /// calls under load.
    func exchangesInFlightChanged() { loop.readsInSmallPieces = metrics.inFlight <= 1 }

    /// A response's first piece is on its way to the client and more is due:
    /// the rest is read whole (until the next exchange starts or ends). The
    /// client starts on the first piece while the rest is read, and a large
    /// body costs two reads, not one per 16 KiB: less CPU per request than
    /// small pieces throughout, at about the same latency (measured in
    /// docs/benchmarks.md, "Read size at one connection").
    func responseContinues() { loop.readsInSmallPieces = false }

    /// The wait a queued request gets: for a runtime that is not ready yet, or for a slot.
    var queueWaitMilliseconds: UInt64 {
        admission.runtimeReady ? config.queueTimeoutMilliseconds : config.startTimeoutMilliseconds
    }

    // MARK: Local routes

    /// The proxy's own route for this request, if any. With an admin port,
    /// they live there only and the main port forwards every path.
    func localRoute(for head: MessageHead, onAdminPort: Bool) -> ConnectionStateMachine.LocalRoute? {
        guard onAdminPort == (adminListener != nil) else { return nil }
        let path = head.path
        if path.elementsEqual(healthPath) { return .health }
        if path.elementsEqual(metricsPath) { return .metrics }
        return nil
    }

    func healthAnswer() -> (status: Int, body: [UInt8]) {
        if isDraining { return (503, Array("draining\n".utf8)) }
        if supervisor != nil && !admission.runtimeReady { return (503, Array("starting: the runtime does not answer yet\n".utf8)) }
        return health.answer()
    }

    func renderMetrics() -> [UInt8] {
        let runtime = supervisor.map {
            ProxyMetrics.RuntimeFigures(up: admission.runtimeReady, restarts: $0.restarts, startupMilliseconds: $0.lastStartupMilliseconds,
                                        lastExitStatus: $0.lastExit?.shellStatus, orphansReaped: $0.orphansReaped, oomKills: $0.oomKills,
                                        resources: $0.runtimePID.map { RuntimeResources.read(root: $0) })
        }
        return metrics.render(ProxyMetrics.ScrapeContext(
            openClientConnections: connections.count, idleUpstreamConnections: pool.idleCount, logLinesDropped: accessLog.linesDropped,
            upstreamConnectionsOpened: pool.connectionsOpened, queuedRequests: admission.queuedCount,
            queueRejections: admission.rejections, runtime: runtime,
            process: ProcessStats.read(startTimeSeconds: metrics.startTimeSeconds), container: CgroupMemory.read()))
    }

    // MARK: Timeout policy

    /// A request ran past its timeout; its client has its answer.
    func requestDidTimeOut() {
        switch config.timeoutPolicy {
        case .none:
            break
        case .restart:
            supervisor?.restart(reason: "a request ran past its timeout")
        case .exit:
            guard exitTimer == nil else { return }
            // The Go proxy's way: the stuck function cannot be stopped from
            // here, so exit and let the platform restart the container.
            log("request timeout with --timeout-policy exit: exiting in 1 s")
            let timer = Timer(loop: loop)
            timer.delegate = TimerAction { [unowned self] in
                log("exiting after a request timeout (status 1)")
                exitProcess(status: 1)
            }
            timer.start(milliseconds: 1_000)
            exitTimer = timer
        }
    }

    /// Exits now with `status`, after a last attempt to write what is queued.
    func exitProcess(status: Int32) {
        log("exiting with status \(status)")
        logOutput?.flush()
        loop.flushNow()
        SystemInfo.exitProcess(status: status)
    }

    // MARK: Shutdown

    public func signalWatcher(_ watcher: SignalWatcher, didReceive signal: Signal) {
        perform(shutdown.signalReceived(signal.name, now: loop.nowMilliseconds, openConnections: connections.count))
    }

    private func perform(_ steps: [ShutdownSequence.Step]) {
        for step in steps {
            switch step {
            case .log(let line):
                log(line)
            case .closeListeners:
                listener?.close()
                listener = nil
                adminListener?.close()
                adminListener = nil
            case .closeIdleConnections:
                for connection in Array(connections.values) where connection.isIdle { connection.closeNow() }
            case .closeAllConnections:
                for connection in Array(connections.values) { connection.closeNow() }
            case .stopRuntime:
                finishShutdown()
            case .killRuntime:
                supervisor?.hurry()
            }
        }
        if let deadline = shutdown.nextDeadline {
            let now = loop.nowMilliseconds
            shutdownTimer.start(milliseconds: deadline > now ? deadline - now : 0)
        } else {
            shutdownTimer.stop()
        }
    }

    private func finishShutdown() {
        pool.closeAll()
        health.close()
        if let supervisor, supervisor.isRunning {
            supervisor.shutdown()
            return
        }
        exitStatus = supervisor?.lastExit?.shellStatus ?? 0
        for watcher in signalWatchers { watcher.close() }
        signalWatchers.removeAll()
        shutdownTimer.close()
        logOutput?.flush()
        log("stopped")
        if supervisor != nil { exitProcess(status: exitStatus) }
    }

    /// A lifecycle line on stderr (the access log has stdout).
    public func log(_ message: String) {
        SystemInfo.writeToStandardError("runtime-proxy: \(message)\n")
    }
}

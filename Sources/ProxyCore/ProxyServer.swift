#if canImport(Glibc)
import Glibc
#endif
import ProxyHTTP
import ProxyUV

/// The proxy: one listener, its client connections, the upstream pool, and
/// the loop they all run on.
public final class ProxyServer: TCPListenerDelegate, SignalWatcherDelegate {
    public let config: ProxyConfig
    let loop: EventLoop
    let pool: UpstreamPool
    let metrics = ProxyMetrics()
    let accessLog: AccessLog
    let timeoutDurations: ClientTimeouts.Durations
    private var listener: TCPListener?
    private var connections: [ObjectIdentifier: ClientConnection] = [:]
    private var signalWatchers: [SignalWatcher] = []
    public private(set) var isDraining = false
    private let healthPath: [UInt8]
    private let metricsPath: [UInt8]

    public init(config: ProxyConfig) throws(UVError) {
        self.config = config
        loop = try EventLoop()
        pool = UpstreamPool(loop: loop, config: config)
        accessLog = AccessLog(format: config.accessLog)
        timeoutDurations = ClientTimeouts.Durations(
            clientIdle: config.clientIdleTimeoutMilliseconds, headerRead: config.headerTimeoutMilliseconds,
            upstreamConnect: config.connectTimeoutMilliseconds, request: config.requestTimeoutMilliseconds,
            tunnelIdle: config.tunnelIdleTimeoutMilliseconds)
        healthPath = Array(config.healthPath.utf8)
        metricsPath = Array(config.metricsPath.utf8)
    }

    /// Binds the port; after this returns, connections are accepted once `run()` runs.
    public func start() throws(UVError) {
        let listener = try TCPListener(loop: loop, address: config.listenAddress)
        listener.delegate = self
        self.listener = listener
        // SIGTERM: Kubernetes starts a graceful shutdown. SIGINT: the same, from a terminal.
        for signal in [SIGTERM, SIGINT] {
            let watcher = try SignalWatcher(loop: loop, signal: signal)
            watcher.delegate = self
            signalWatchers.append(watcher)
        }
    }

    /// The port actually bound (the configured one, or the kernel's pick for 0).
    public var boundPort: Int { listener?.boundPort ?? 0 }

    /// Runs the loop until the proxy has shut down.
    public func run() { loop.run() }

    // MARK: Connections

    public func listener(_ listener: TCPListener, didAccept stream: Stream) {
        let connection = ClientConnection(server: self, stream: stream)
        connections[ObjectIdentifier(connection)] = connection
        connection.start()
    }

    public func listener(_ listener: TCPListener, didFailToAccept error: UVError) {
        log("accept failed: \(error)")
    }

    func connectionDidClose(_ connection: ClientConnection) {
        connections.removeValue(forKey: ObjectIdentifier(connection))
        if isDraining && connections.isEmpty { finishShutdown() }
    }

    var openConnectionCount: Int { connections.count }

    // MARK: Local routes

    func localRoute(for head: MessageHead) -> ClientConnection.LocalRoute? {
        let path = head.path
        if path.elementsEqual(healthPath) { return .health }
        if path.elementsEqual(metricsPath) { return .metrics }
        return nil
    }

    func renderMetrics() -> [UInt8] { metrics.render() }

    // MARK: Shutdown

    public func signalWatcher(_ watcher: SignalWatcher, didReceive signal: Int32) {
        if isDraining {
            log("second signal \(signal): closing all connections now")
            for connection in Array(connections.values) { connection.closeNow() }
            return
        }
        log("signal \(signal): draining \(connections.count) connection(s)")
        isDraining = true
        listener?.close()
        listener = nil
        if connections.isEmpty { finishShutdown() }
    }

    private func finishShutdown() {
        pool.closeAll()
        for watcher in signalWatchers { watcher.close() }
        signalWatchers.removeAll()
        log("stopped")
    }

    public func log(_ message: String) {
        var line = Array("runtime-proxy: \(message)\n".utf8)
        _ = line.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

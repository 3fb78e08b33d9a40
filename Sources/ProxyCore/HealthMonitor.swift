import ProxyHTTP
import ProxyUV

/// The answer behind `/healthz`: whether the runtime answers, from a cached
/// check, never one upstream request per probe (the Go proxy asked the
/// runtime on every probe, and crashed when it did not answer).
///
/// The state comes from two sources: real traffic (a response from the
/// runtime means healthy; a refused connection means not), and an active
/// check, `GET <upstream health path>` on its own connection, started when
/// a probe finds the state older than the interval. Any complete HTTP
/// response below 500 counts as the runtime answering (a runtime without a
/// health route answers 404, and is alive).
final class HealthMonitor: StreamDelegate, HTTPParserDelegate, TimerDelegate {
    enum State: Equatable {
        case unknown
        case healthy
        case unhealthy(String)
    }

    private let loop: EventLoop
    private let target: UpstreamTarget
    private let request: [UInt8]
    private let interval: UInt64
    private(set) var state = State.unknown
    private var checkedAt: UInt64 = 0
    private var probe: Stream?
    private let parser = HTTPParser(kind: .response)
    private let timer: Timer
    private static let checkTimeout: UInt64 = 1_000

    init(loop: EventLoop, config: ProxyConfig) {
        self.loop = loop
        target = config.upstream
        interval = config.healthIntervalMilliseconds
        request = Array("GET \(config.upstreamHealthPath) HTTP/1.1\r\nHost: localhost\r\nUser-Agent: runtime-proxy-health\r\nConnection: close\r\n\r\n".utf8)
        timer = Timer(loop: loop)
        timer.unreference()
        timer.delegate = self
        parser.delegate = self
    }

    /// Connections whose health probe waits for the first check.
    private var waiters: [ClientConnection] = []

    /// Until the first check has finished there is nothing to answer: the
    /// caller waits (at most the check timeout) and is called back.
    func needsFirstCheck(_ waiter: ClientConnection) -> Bool {
        guard state == .unknown else { return false }
        waiters.append(waiter)
        startCheck()
        return true
    }

    /// Status and body for a health probe; a stale result is answered and
    /// refreshed in the background.
    func answer() -> (status: Int, body: [UInt8]) {
        let now = loop.nowMilliseconds
        if probe == nil, state == .unknown || now >= checkedAt + interval { startCheck() }
        switch state {
        case .unknown: return (503, Array("starting: waiting for the runtime to answer\n".utf8))
        case .healthy: return (200, Array("OK".utf8))
        case .unhealthy(let reason): return (503, Array("runtime not healthy: \(reason)\n".utf8))
        }
    }

    /// Real traffic reached the runtime and came back.
    func runtimeAnswered() { settle(.healthy) }

    /// Real traffic could not reach the runtime.
    func runtimeUnreachable(_ reason: String) { settle(.unhealthy(reason)) }

    func startCheck() {
        guard probe == nil else { return }
        parser.reset()
        switch target {
        case .tcp(let address): probe = Stream.connect(loop: loop, to: address, delegate: self)
        case .unix(let path): probe = Stream.connect(loop: loop, toPath: path, delegate: self)
        }
        probe?.write(request)
        timer.start(milliseconds: Self.checkTimeout)
    }

    func close() {
        waiters.removeAll()
        finishCheck()
        timer.close()
    }

    private func settle(_ newState: State) {
        state = newState
        checkedAt = loop.nowMilliseconds
    }

    private func finishCheck(_ result: State? = nil) {
        if let result { settle(result) }
        probe?.close()
        probe = nil
        timer.stop()
        let waiting = waiters
        waiters.removeAll()
        for waiter in waiting { waiter.healthCheckDidFinish() }
    }

    // MARK: The check's connection

    func streamDidConnect(_ stream: Stream) { stream.startReading() }

    func streamDidFailToConnect(_ stream: Stream, _ error: UVError) { finishCheck(.unhealthy("connect: \(error.name)")) }

    func streamDidRead(_ stream: Stream, _ bytes: RawSpan) {
        if case .failed(let error) = parser.execute(bytes) { finishCheck(.unhealthy("invalid response: \(error.reason)")) }
    }

    func streamDidReachEnd(_ stream: Stream) { finishCheck(.unhealthy("closed without a response")) }

    func streamDidFail(_ stream: Stream, _ error: UVError) { finishCheck(.unhealthy(error.name)) }

    func streamDidDrain(_ stream: Stream) {}

    func parserDidCompleteHead(_ parser: HTTPParser) -> BodyExpectation {
        let status = parser.head.statusCode
        if status >= 200 { finishCheck(status < 500 ? .healthy : .unhealthy("health check answered \(status)")) }
        return .none
    }

    func parser(_ parser: HTTPParser, didReceiveBody bytes: RawSpan) {}

    func parserDidCompleteMessage(_ parser: HTTPParser) -> Bool { false }

    func timerDidFire(_ timer: Timer) { finishCheck(.unhealthy("health check timed out")) }
}

import ProxyHTTP
import ProxySystem

/// The answer behind `/healthz`: whether the runtime answers, from a cached
/// check, never one upstream request per probe (the Go proxy asked the
/// runtime on every probe, and crashed when it did not answer).
///
/// The state comes from two sources: real traffic (a response from the
/// runtime means healthy; a refused connection means not), and an active
/// check, `GET <upstream health path>`, started when a probe finds the state
/// older than the interval. The check borrows an idle pooled connection when
/// there is one, since a single-threaded runtime serves no new connection
/// while the pool holds one open. Any complete HTTP response below 500 counts
/// as the runtime answering (a runtime without a health route answers 404,
/// and is alive).
final class HealthMonitor: UpstreamClientDelegate, TimerDelegate {
    enum State: Equatable {
        case unknown
        case healthy
        case unhealthy(String)
    }

    private let loop: EventLoop
    private unowned let pool: UpstreamPool
    private let request: [UInt8]
    private let interval: UInt64
    private(set) var state = State.unknown
    private var checkedAt: UInt64 = 0
    private var check: UpstreamClient?
    private var checkIsReused = false
    private var checkStatus = 0
    private let timer: Timer
    private static let checkTimeout: UInt64 = 1_000
    /// Connections whose health probe waits for the first check.
    private var waiters: [ClientConnection] = []

    init(loop: EventLoop, pool: UpstreamPool, config: ProxyConfig) {
        self.loop = loop
        self.pool = pool
        interval = config.healthIntervalMilliseconds
        request = Array("GET \(config.upstreamHealthPath) HTTP/1.1\r\nHost: localhost\r\nUser-Agent: runtime-proxy-health\r\n\r\n".utf8)
        timer = Timer(loop: loop)
        timer.unreference()
        timer.delegate = self
    }

    /// No check has finished yet: a probe has nothing to answer.
    var awaitsFirstCheck: Bool { if case .unknown = state { true } else { false } }

    /// Until the first check has finished there is nothing to answer: the
    /// caller waits (at most the check timeout) and is called back.
    func waitForFirstCheck(_ waiter: ClientConnection) {
        waiters.append(waiter)
        startCheck()
    }

    /// Status and body for a health probe; a stale result is answered and
    /// refreshed in the background.
    func answer() -> (status: Int, body: [UInt8]) {
        let now = loop.nowMilliseconds
        if check == nil, state == .unknown || now >= checkedAt + interval { startCheck() }
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

    func startCheck(allowReuse: Bool = true) {
        guard check == nil else { return }
        let (client, reused) = pool.lend(to: self, reuse: allowReuse)
        check = client
        checkIsReused = reused
        checkStatus = 0
        client.beginRequest(request, reused: reused)
        timer.start(milliseconds: Self.checkTimeout)
    }

    func close() {
        waiters.removeAll()
        finishCheck(nil, keepConnection: false)
        timer.close()
    }

    private func settle(_ newState: State) {
        state = newState
        checkedAt = loop.nowMilliseconds
    }

    private func finishCheck(_ result: State?, keepConnection: Bool) {
        timer.stop()
        if let client = check {
            check = nil
            if keepConnection { pool.takeBack(client) } else { client.close() }
        }
        if let result { settle(result) }
        let waiting = waiters
        waiters.removeAll()
        for waiter in waiting { waiter.healthCheckDidFinish() }
    }

    /// A borrowed connection may have been closed by the runtime meanwhile:
    /// try once more on a new one before calling the runtime unhealthy.
    private func fail(_ reason: String) {
        if checkIsReused {
            check?.close()
            check = nil
            timer.stop()
            startCheck(allowReuse: false)
            return
        }
        finishCheck(.unhealthy(reason), keepConnection: false)
    }

    // MARK: The check's client

    func upstreamClient(_ client: UpstreamClient, didReceiveHead head: MessageHead) -> BodyExpectation {
        checkStatus = head.statusCode
        return .asFramed
    }

    func upstreamClient(_ client: UpstreamClient, didFinishResponse extraBytes: Bool) {
        let status = checkStatus
        finishCheck(status < 500 ? .healthy : .unhealthy("health check answered \(status)"),
                    keepConnection: client.responseHead.keepAlive && !extraBytes)
    }

    func upstreamClient(_ client: UpstreamClient, didSwitchProtocols leftover: RawSpan, from offset: Int) {
        finishCheck(.healthy, keepConnection: false)
    }

    func upstreamClient(_ client: UpstreamClient, didFail failure: UpstreamFailure) {
        switch failure {
        case .refused(let detail), .unreachable(let detail): fail("connect: \(detail)")
        case .malformed(let detail): fail("invalid response: \(detail)")
        case .closed("EOF"): fail("closed without a response")
        case .closed(let detail), .reset(let detail): fail(detail)
        }
    }

    func timerDidFire(_ timer: Timer) { finishCheck(.unhealthy("health check timed out"), keepConnection: false) }
}

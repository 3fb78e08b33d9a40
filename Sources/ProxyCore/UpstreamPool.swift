import ProxyHTTP
import ProxySystem

/// Keep-alive connections to the upstream, lent most-recent first.
///
/// Every client whose response ended cleanly comes back here, whatever the
/// concurrency: the working set is what the peak needed, and it shrinks by
/// time (the idle timeout), never by a count below the load. The count
/// limit only guards descriptors (half the open-file limit by default).
///
/// The pool is the only one that sets a pooled client's delegate: to the
/// borrower when it lends it, to itself when it takes it back. An idle
/// client keeps reading: any byte or end of stream means the upstream gave
/// it up (or misbehaves), and it is closed at once instead of being lent to
/// the next request. Idle clients older than the idle timeout, which is
/// kept below runtimes' own keep-alive timeouts, are closed by one sweep
/// timer.
final class UpstreamPool: UpstreamClientDelegate, TimerDelegate {
    private let loop: EventLoop
    private let target: UpstreamTarget
    private let limits: HeadLimits
    private let idleTimeout: UInt64
    private let maxIdle: Int
    private var idle: [UpstreamClient] = []
    private let sweepTimer: Timer

    private(set) var connectionsOpened = 0

    init(loop: EventLoop, config: ProxyConfig) {
        self.loop = loop
        target = config.upstream
        limits = config.headLimits
        idleTimeout = config.upstreamIdleTimeoutMilliseconds
        maxIdle = config.maxIdleUpstreamConnections ?? Int.max
        sweepTimer = Timer(loop: loop)
        sweepTimer.delegate = self
        sweepTimer.unreference()
    }

    var idleCount: Int { idle.count }

    /// An idle client if one is open (`reused`) and `reuse` allows, else a
    /// new one; `borrower` hears everything about it until it comes back.
    func lend(to borrower: UpstreamClientDelegate, reuse: Bool = true) -> (client: UpstreamClient, reused: Bool) {
        if reuse, let client = idle.popLast() {
            client.delegate = borrower
            return (client, true)
        }
        return (open(delegate: borrower), false)
    }

    /// A new connection outside the pool's accounting of idle clients (counted as opened).
    private func open(delegate: UpstreamClientDelegate) -> UpstreamClient {
        connectionsOpened += 1
        return UpstreamClient(loop: loop, target: target, limits: limits, delegate: delegate)
    }

    /// Takes back a client whose response finished cleanly.
    func takeBack(_ client: UpstreamClient) {
        guard idle.count < maxIdle else { client.close(); return }
        client.delegate = self
        client.resetForIdle(now: loop.nowMilliseconds)
        idle.append(client)
        if !sweepTimer.isArmed { sweepTimer.start(milliseconds: idleTimeout) }
    }

    func closeAll() {
        for client in idle { client.close() }
        idle.removeAll()
        sweepTimer.stop()
    }

    private func discard(_ client: UpstreamClient) {
        if let index = idle.firstIndex(where: { $0 === client }) { idle.remove(at: index) }
        client.close()
    }

    // MARK: Idle clients: anything they hear ends them

    func upstreamClient(_ client: UpstreamClient, didReceiveHead head: MessageHead) -> BodyExpectation { .asFramed }
    func upstreamClientExpectsMore(_ client: UpstreamClient) { discard(client) }
    func upstreamClient(_ client: UpstreamClient, didFinishResponse extraBytes: Bool) { discard(client) }
    func upstreamClient(_ client: UpstreamClient, didSwitchProtocols leftover: RawSpan, from offset: Int) { discard(client) }
    func upstreamClient(_ client: UpstreamClient, didFail failure: UpstreamFailure) { discard(client) }

    func timerDidFire(_ timer: Timer) {
        let now = loop.nowMilliseconds
        // Oldest first: the stack's bottom.
        var expired = 0
        while expired < idle.count, idle[expired].idleSince + idleTimeout <= now { expired += 1 }
        for client in idle[0..<expired] { client.close() }
        idle.removeFirst(expired)
        if let oldest = idle.first {
            sweepTimer.start(milliseconds: oldest.idleSince + idleTimeout - now)
        }
    }
}

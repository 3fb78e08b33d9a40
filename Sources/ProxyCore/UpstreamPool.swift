import ProxyHTTP
import ProxyUV

/// Keep-alive connections to the upstream, reused most-recent first.
///
/// Every connection whose response ended cleanly comes back here, whatever
/// the concurrency: the working set is what the peak needed, and it shrinks
/// by time (the idle timeout), never by a count below the load. The count
/// limit only guards descriptors (half the open-file limit by default).
///
/// An idle connection is read from: any byte or end of stream means the
/// upstream gave it up (or misbehaves), and it is closed at once instead of
/// being handed to the next request. Idle connections older than the idle
/// timeout, which is kept below runtimes' own keep-alive timeouts, are closed
/// by one sweep timer.
final class UpstreamPool: StreamDelegate, TimerDelegate {
    private let loop: EventLoop
    private let target: UpstreamTarget
    private let limits: HeadLimits
    private let idleTimeout: UInt64
    private let maxIdle: Int
    private var idle: [UpstreamConnection] = []
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

    /// An idle connection, if one is open. It keeps reading: what arrives
    /// next goes to its new delegate, as the response.
    func takeIdle() -> UpstreamConnection? {
        idle.popLast()
    }

    /// A new connection; `delegate` hears whether it connects.
    func open(delegate: StreamDelegate) -> UpstreamConnection {
        connectionsOpened += 1
        let stream: Stream
        switch target {
        case .tcp(let address): stream = Stream.connect(loop: loop, to: address, delegate: delegate)
        case .unix(let path): stream = Stream.connect(loop: loop, toPath: path, delegate: delegate)
        }
        return UpstreamConnection(stream: stream, limits: limits)
    }

    /// Takes back a connection that finished a response cleanly.
    func putBack(_ connection: UpstreamConnection) {
        guard idle.count < maxIdle else { connection.close(); return }
        connection.parser.delegate = nil
        connection.parser.reset()
        connection.stream.delegate = self
        connection.idleSince = loop.nowMilliseconds
        connection.requestsServed += 1
        idle.append(connection)
        connection.stream.startReading()
        if !sweepTimer.isArmed { sweepTimer.start(milliseconds: idleTimeout) }
    }

    func closeAll() {
        for connection in idle { connection.close() }
        idle.removeAll()
        sweepTimer.stop()
    }

    private func discard(_ stream: Stream) {
        if let index = idle.firstIndex(where: { $0.stream === stream }) {
            idle.remove(at: index).close()
        } else {
            stream.close()
        }
    }

    // MARK: Idle connections

    func streamDidRead(_ stream: Stream, _ bytes: RawSpan) { discard(stream) }
    func streamDidReachEnd(_ stream: Stream) { discard(stream) }
    func streamDidFail(_ stream: Stream, _ error: UVError) { discard(stream) }
    func streamDidConnect(_ stream: Stream) {}
    func streamDidFailToConnect(_ stream: Stream, _ error: UVError) { discard(stream) }
    func streamDidDrain(_ stream: Stream) {}

    func timerDidFire(_ timer: Timer) {
        let now = loop.nowMilliseconds
        // Oldest first: the stack's bottom.
        var expired = 0
        while expired < idle.count, idle[expired].idleSince + idleTimeout <= now { expired += 1 }
        for connection in idle[0..<expired] { connection.close() }
        idle.removeFirst(expired)
        if let oldest = idle.first {
            sweepTimer.start(milliseconds: oldest.idleSince + idleTimeout - now)
        }
    }
}

/// Which interval of a client connection's life ran out. Each has its own
/// reason in logs (see docs/configuration.md for when each starts and stops).
public enum TimeoutKind: String, Sendable, Equatable {
    /// No request arrived on a keep-alive connection in time.
    case clientIdle = "client_idle"
    /// A request head took too long to arrive (slowloris guard).
    case headerRead = "header_read"
    /// A new upstream connection was not established in time.
    case upstreamConnect = "upstream_connect"
    /// The whole request, head to complete response, took too long (`FUNC_TIMEOUT`).
    case request = "request"
    /// An upgraded connection carried no bytes either way for too long.
    case tunnelIdle = "tunnel_idle"
    /// A closing connection's peer did not close its side in time.
    case linger = "linger"
    /// A request waited too long for the runtime to be ready or for a free slot.
    case queueWait = "queue_wait"
    /// The whole request went upstream and no response byte came back in time.
    case responseStart = "response_start"
    /// A response under way carried no byte either way for too long.
    case responseIdle = "response_idle"
}

/// The deadlines of one client connection: a pure value that the connection
/// updates on each event with the loop's time, and asks which deadline comes
/// next and which has passed. No clock is read here.
public struct ClientTimeouts: Sendable, Equatable {
    public struct Durations: Sendable, Equatable {
        public var clientIdle: UInt64
        public var headerRead: UInt64
        public var upstreamConnect: UInt64
        public var request: UInt64
        public var tunnelIdle: UInt64
        public var linger: UInt64
        /// 0: off (the default).
        public var responseStart: UInt64
        /// 0: off (the default).
        public var responseIdle: UInt64

        public init(clientIdle: UInt64, headerRead: UInt64, upstreamConnect: UInt64, request: UInt64, tunnelIdle: UInt64, linger: UInt64 = 2_000,
                    responseStart: UInt64 = 0, responseIdle: UInt64 = 0) {
            self.clientIdle = clientIdle
            self.headerRead = headerRead
            self.upstreamConnect = upstreamConnect
            self.request = request
            self.tunnelIdle = tunnelIdle
            self.linger = linger
            self.responseStart = responseStart
            self.responseIdle = responseIdle
        }
    }

    enum Phase: Equatable {
        case idle(since: UInt64)
        case readingHead(since: UInt64)
        case exchange(since: UInt64)
        case tunnel(lastActivity: UInt64)
        case lingering(since: UInt64)
    }

    public let durations: Durations
    private(set) var phase: Phase
    private var connectingSince: UInt64?
    private var requestDeadline: UInt64?
    private var queuedUntil: UInt64?
    /// When the whole request went upstream (the response-start timeout runs).
    private var awaitingResponseSince: UInt64?
    /// The last byte either way while a response is under way (the response idle timeout runs).
    private var responseActiveAt: UInt64?

    public init(durations: Durations, now: UInt64) {
        self.durations = durations
        phase = .idle(since: now)
    }

    public mutating func requestBegan(now: UInt64) {
        if case .idle = phase { phase = .readingHead(since: now) }
    }

    /// `requestTimeout`: a shorter timeout the request asked for, if any; it
    /// can shorten the configured one, never lengthen it.
    public mutating func headCompleted(now: UInt64, requestTimeout: UInt64? = nil) {
        phase = .exchange(since: now)
        requestDeadline = now + min(requestTimeout ?? durations.request, durations.request)
    }

    /// The request waits for admission until `until` at the latest.
    public mutating func queued(until: UInt64) { queuedUntil = until }
    public mutating func admitted() { queuedUntil = nil }

    public mutating func connectStarted(now: UInt64) { connectingSince = now }
    public mutating func connectFinished() { connectingSince = nil }

    /// The whole request is upstream: the response-start timeout starts (if on).
    public mutating func requestSent(now: UInt64) {
        if durations.responseStart > 0 { awaitingResponseSince = now }
    }

    /// The response's first byte (a head, interim or final): the
    /// response-start timeout stops, the response idle timeout starts (if on).
    public mutating func responseBegan(now: UInt64) {
        awaitingResponseSince = nil
        if durations.responseIdle > 0 { responseActiveAt = now }
    }

    /// A byte either way while the response is under way.
    public mutating func responseActivity(now: UInt64) {
        if responseActiveAt != nil { responseActiveAt = now }
    }

    private mutating func clearExchangeDeadlines() {
        connectingSince = nil
        requestDeadline = nil
        awaitingResponseSince = nil
        responseActiveAt = nil
    }

    public mutating func exchangeEnded(now: UInt64) {
        phase = .idle(since: now)
        clearExchangeDeadlines()
        queuedUntil = nil
    }

    public mutating func tunnelActivity(now: UInt64) {
        phase = .tunnel(lastActivity: now)
        clearExchangeDeadlines()
    }

    public mutating func lingerStarted(now: UInt64) {
        phase = .lingering(since: now)
        clearExchangeDeadlines()
    }

    /// The earliest deadline and what it guards.
    public var next: (deadline: UInt64, kind: TimeoutKind) {
        var result: (UInt64, TimeoutKind)
        switch phase {
        case .idle(let since): result = (since + durations.clientIdle, .clientIdle)
        case .readingHead(let since): result = (since + durations.headerRead, .headerRead)
        case .exchange(let since): result = (requestDeadline ?? since + durations.request, .request)
        case .tunnel(let last): result = (last + durations.tunnelIdle, .tunnelIdle)
        case .lingering(let since): result = (since + durations.linger, .linger)
        }
        if let connectingSince, connectingSince + durations.upstreamConnect < result.0 {
            result = (connectingSince + durations.upstreamConnect, .upstreamConnect)
        }
        if let queuedUntil, queuedUntil < result.0 { result = (queuedUntil, .queueWait) }
        if let since = awaitingResponseSince, since + durations.responseStart < result.0 {
            result = (since + durations.responseStart, .responseStart)
        }
        if let active = responseActiveAt, active + durations.responseIdle < result.0 {
            result = (active + durations.responseIdle, .responseIdle)
        }
        return result
    }

    /// The timeout that has run out at `now`, if any.
    public func expired(now: UInt64) -> TimeoutKind? {
        let next = self.next
        return now >= next.deadline ? next.kind : nil
    }
}

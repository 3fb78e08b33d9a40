import ProxyHTTP

/// The upstream side of an exchange, the timer, and how an exchange ends.
extension ConnectionStateMachine {
    // MARK: The upstream client

    /// An upstream client was attached (pooled when `reused`). Returns
    /// whether it must report its drain: the client is held back for it.
    mutating func upstreamAttached(reused: Bool, now: UInt64) -> Bool {
        if !reused { timeouts.connectStarted(now: now) }
        // A retry sends the whole request again: the response-start timeout restarts.
        if exchange.requestComplete { timeouts.requestSent(now: now) }
        exchange.upstreamWasReused = reused
        exchange.replayable = true
        state = .proxying
        return clientHeldBack
    }

    mutating func upstreamConnected() { timeouts.connectFinished() }

    /// What a retry sends again: taken once.
    mutating func takeReplay() -> [UInt8] {
        var taken: [UInt8] = []
        swap(&taken, &replay)
        return taken
    }

    // MARK: The response

    /// What the upstream's head says, as far as decisions go.
    struct ResponseFacts {
        var statusCode: Int
        var framing: BodyFraming
        /// A `Content-Length` above zero.
        var hasLength: Bool
        /// Why a 101 may not open a tunnel (UpgradeCheck), if it may not.
        var upgradeRefusal: String?
    }

    enum ResponseHeadAction: Equatable {
        /// Not relayed (a 1xx to an HTTP/1.0 client, a refused 101).
        case ignore
        /// An interim response (100 Continue, 103 Early Hints): relayed as it comes.
        case relayInterim
        /// A 101 the request asked for: relayed; the tunnel opens at the switch.
        case relaySwitch
        /// The final head: relayed with `keepAlive`; `holdForBody`: the head
        /// waits for the body's first bytes (one write, not two);
        /// `expectBody`: false for HEAD.
        case relayFinal(keepAlive: Bool, holdForBody: Bool, expectBody: Bool)
    }

    mutating func responseHeadArrived(_ facts: ResponseFacts, draining: Bool, now: UInt64, nowNanoseconds: UInt64) -> ResponseHeadAction {
        timeouts.responseBegan(now: now)
        if facts.statusCode < 200 {
            if facts.statusCode == 101 && exchange.isUpgrade {
                if let refusal = facts.upgradeRefusal {
                    exchange.upgradeRefusal = refusal
                    return .ignore
                }
                exchange.responseStarted = true
                exchange.statusCode = 101
                return .relaySwitch
            }
            return !exchange.clientIsHTTP10 && facts.statusCode != 101 ? .relayInterim : .ignore
        }
        exchange.statusCode = facts.statusCode
        exchange.responseFraming = facts.framing
        let keepAlive = !record.closeAfterResponse && exchange.clientKeepAlive(draining: draining)
        record.closeAfterResponse = !keepAlive
        record.firstByteNanoseconds = nowNanoseconds &- record.startNanoseconds
        exchange.responseStarted = true
        let isHead = exchange.method == .head
        return .relayFinal(keepAlive: keepAlive, holdForBody: !isHead && facts.framing == .contentLength && facts.hasLength,
                           expectBody: !isHead)
    }

    /// A run of response body bytes; returns whether it is re-chunked.
    mutating func responseBodyArrived(byteCount: Int, now: UInt64) -> Bool {
        timeouts.responseActivity(now: now)
        record.responseBodyBytes += byteCount
        return exchange.responseFraming == .chunked
    }

    struct Completion: Equatable {
        /// End the chunked body to the client.
        var lastChunk: Bool
        /// The upstream client goes back to the pool (else it closes).
        var reuseUpstream: Bool
        /// The client connection carries the next request (else it closes gracefully).
        var keepClient: Bool
    }

    mutating func responseFinished(upstreamKeepAlive: Bool, extraBytes: Bool, draining: Bool) -> Completion {
        exchange.responseComplete = true
        state = .awaitingRequest
        return Completion(lastChunk: exchange.responseFraming == .chunked,
                          reuseUpstream: exchange.upstreamReusable(responseKeepAlive: upstreamKeepAlive, extraBytesAfterResponse: extraBytes),
                          keepClient: !record.closeAfterResponse && exchange.clientKeepAlive(draining: draining))
    }

    /// The upstream switched protocols. Returns whether the tunnel opens
    /// (else the switch fails the exchange: `switchRefusal`).
    mutating func upstreamSwitched(now: UInt64) -> Bool {
        guard exchange.isUpgrade && exchange.statusCode == 101 else { return false }
        state = .tunnel(upstreamEnded: false)
        hold = .none
        timeouts.tunnelActivity(now: now)
        return true
    }

    var switchRefusal: UpstreamFailure {
        .malformed(exchange.upgradeRefusal ?? "switching protocols that were not asked for")
    }

    mutating func tunnelBytesFromUpstream(now: UInt64) { timeouts.tunnelActivity(now: now) }

    /// The upstream ended its side of the tunnel. Returns whether the connection closes now.
    mutating func upstreamDidEndTunnel() -> Bool {
        state = .tunnel(upstreamEnded: true)
        return clientEnded
    }

    var upstreamEndedTunnel: Bool { state == .tunnel(upstreamEnded: true) }

    // MARK: Failures

    /// What the failed client leaves behind.
    struct FailedClient {
        var replay: [UInt8]
        var replayable: Bool
        var receivedResponseBytes: Bool
    }

    /// How the runtime is run, as a failure's recovery needs it.
    struct RuntimeFacts {
        /// The proxy starts the runtime (it may be restarting).
        var supervised: Bool
        var draining: Bool
        var startTimeout: UInt64
    }

    enum FailureAction: Equatable {
        /// Wait for the retry deadline, the client held back (nothing was sent).
        case waitToRetry
        /// Attach a fresh upstream client and send the replay again.
        case retryNow
        /// Answer with this error (the failure reason is recorded).
        case respond(status: Int, keepClientOpen: Bool)
        /// The response had begun: record it as failed and drop both connections.
        case abort
    }

    /// The upstream client failed; it is closed and detached.
    mutating func upstreamFailed(_ failure: UpstreamFailure, client: FailedClient, runtime: RuntimeFacts, now: UInt64) -> FailureAction {
        replay = client.replay
        exchange.replayable = client.replayable
        if client.receivedResponseBytes { exchange.responseBytesReceived = true }
        timeouts.connectFinished()
        state = .awaitingRequest
        switch exchange.recovery(after: failure, runtimeMayReturn: runtimeMayReturn(after: failure, runtime, now: now)) {
        case .retryAfterDelay:
            // The runtime is down (killed, restarting) and the supervisor may
            // not have seen it yet: nothing was sent, so wait and try again
            // rather than fail a request the next runtime can serve. The rest
            // of the body waits in the client's socket meanwhile; the retry's
            // drain notice resumes reading.
            state = .awaitingRetry(retryAt: now + Self.refusalRetryMilliseconds)
            clientHeldBack = true
            return .waitToRetry
        case .retryOnFreshConnection:
            exchange.retried = true
            return .retryNow
        case .respond(let status, let keepClientOpen):
            record.fail(ProxyError(failure), failure.reason)
            return .respond(status: status, keepClientOpen: keepClientOpen)
        case .abortClient:
            record.fail(ProxyError(failure), failure.reason)
            return .abort
        }
    }

    /// A supervised runtime refused: it may be restarting, for up to the start timeout.
    private mutating func runtimeMayReturn(after failure: UpstreamFailure, _ runtime: RuntimeFacts, now: UInt64) -> Bool {
        guard case .refused = failure, runtime.supervised, !runtime.draining else { return false }
        let since = record.refusedSince ?? now
        record.refusedSince = since
        return now - since < runtime.startTimeout
    }

    // MARK: The timer

    /// The timer fired: whether a refused exchange is to be tried again now.
    mutating func retryIsDue(now: UInt64) -> Bool {
        guard case .awaitingRetry(let retryAt) = state, now >= retryAt else { return false }
        return record.counted
    }

    enum TimeoutAction: Equatable {
        /// Close at once (idle client, idle tunnel, linger over).
        case close
        /// Answer with an error the proxy makes (`timedOut`: the request's own timeout).
        case respond(status: Int, detail: String, keepClientOpen: Bool, timedOut: Bool)
        /// The request waited too long in the admission queue: leave it, answer 503 with Retry-After, close.
        case leaveQueue(detail: String)
        /// The response had begun: record it as failed and drop both connections.
        case abort(timedOut: Bool)
        /// Still writing to a client that reads: wait on.
        case keepLingering
    }

    /// The timeout that has run out at `now`, and what to do about it.
    /// `queuedBytes`: unwritten output to the client; `runtimeReady`: the
    /// admission queue's view of the runtime.
    mutating func timeoutExpired(now: UInt64, nowNanoseconds: UInt64, queuedBytes: Int, runtimeReady: Bool) -> (TimeoutKind, TimeoutAction)? {
        guard !isClosed, let kind = timeouts.expired(now: now) else { return nil }
        switch kind {
        case .clientIdle, .tunnelIdle:
            return (kind, .close)
        case .linger:
            if case .lingering(let before) = state, queuedBytes > 0 && queuedBytes != before {
                state = .lingering(queuedBytes: queuedBytes)
                timeouts.lingerStarted(now: now)
                return (kind, .keepLingering)
            }
            return (kind, .close)
        case .headerRead:
            exchange = ExchangeState()
            record = Record(startNanoseconds: nowNanoseconds)
            record.fail(.headerTimeout, "request head not received within the header timeout")
            return (kind, .respond(status: 408, detail: "Request Timeout", keepClientOpen: false, timedOut: false))
        case .queueWait:
            state = .awaitingRequest
            let reason = runtimeReady ? "waited too long for a free slot" : "runtime not ready in time"
            record.fail(runtimeReady ? .queueTimeout : .runtimeStarting, reason)
            return (kind, .leaveQueue(detail: reason))
        case .upstreamConnect, .request, .responseStart, .responseIdle:
            // The function's own timeouts count as timeouts; the connect timeout is the runtime not accepting.
            let timedOut = kind != .upstreamConnect
            let detail: String
            switch kind {
            case .request:
                record.fail(.requestTimeout, "request timeout")
                // Kubeless clients expect exactly this body (with the newline Go's http.Error adds).
                detail = "Timeout exceeded"
            case .responseStart:
                record.fail(.responseStartTimeout, "no response within the response start timeout")
                detail = "no response within the response start timeout"
            case .responseIdle:
                record.fail(.responseIdleTimeout, "response idle timeout")
                detail = "response idle timeout"
            default:
                record.fail(.connectTimeout, "upstream connect timeout")
                detail = "upstream connect timeout"
            }
            switch exchange.recovery(after: kind) {
            case .respond(let status, let keepClientOpen):
                return (kind, .respond(status: status, detail: detail, keepClientOpen: keepClientOpen, timedOut: timedOut))
            case .abortClient, .retryOnFreshConnection, .retryAfterDelay:
                return (kind, .abort(timedOut: timedOut))
            }
        }
    }

    // MARK: The end of an exchange

    /// Whether an answer the proxy makes keeps the client connection:
    /// not when the client has said it is done (a half-close), since
    /// nothing would read it again until the idle timeout.
    func keepsClient(afterLocalAnswer keepClientOpen: Bool, draining: Bool) -> Bool {
        keepClientOpen && exchange.clientKeepAlive(draining: draining) && isHTTP && !record.closeAfterResponse && !clientEnded
    }

    /// A response the proxy made went out (its head written).
    mutating func answeredHere(now: UInt64) {
        exchange.responseStarted = true
        state = .awaitingRequest
        timeouts.exchangeEnded(now: now)
    }

    /// A local route's answer went out.
    mutating func localAnswerSent(now: UInt64) {
        state = .awaitingRequest
        timeouts.exchangeEnded(now: now)
    }

    /// The response went out whole (see `responseFinished`).
    mutating func exchangeEnded(now: UInt64) { timeouts.exchangeEnded(now: now) }

    enum RequestFailureAction: Equatable {
        /// A response had begun: drop the connection.
        case abort
        /// Answer 400, 414, 431, 501 or 505 and close.
        case respond
    }

    /// The request could not be parsed. `readingHead`: the parser was in
    /// a head (a new exchange's clock starts; the old one's is kept while
    /// its request was being forwarded).
    mutating func requestFailed(reason: String, status: Int, readingHead: Bool, nowNanoseconds: UInt64) -> RequestFailureAction {
        record.fail(ProxyError(parseStatus: status), reason)
        if exchange.responseStarted { return .abort }
        if readingHead || state != .proxying { record.startNanoseconds = nowNanoseconds }
        return .respond
    }

    struct Accounting: Equatable {
        /// Count the exchange as ended (it was counted in flight).
        var countEnded: Bool
        /// Give its admission slot back.
        var releaseAdmission: Bool
        var durationNanoseconds: UInt64
    }

    /// The exchange is logged now; counted only once.
    mutating func recordingExchange(nowNanoseconds: UInt64) -> Accounting {
        let accounting = Accounting(countEnded: record.counted, releaseAdmission: record.counted && record.admitted,
                                    durationNanoseconds: nowNanoseconds &- record.startNanoseconds)
        if record.counted {
            record.counted = false
            record.admitted = false
            if case .awaitingRetry = state { state = .awaitingRequest }
        }
        return accounting
    }

    /// After a response: the next request starts unthrottled (the upstream
    /// it waited on is gone). False when the connection no longer carries HTTP.
    mutating func resumeAfterExchange() -> Bool {
        guard isHTTP else { return false }
        hold = .none
        clientHeldBack = false
        return true
    }

    /// Starts the graceful close. False if already closing or closed.
    mutating func closeGracefully(now: UInt64) -> Bool {
        switch state {
        case .lingering, .closed: return false
        default: break
        }
        state = .lingering(queuedBytes: 0)
        hold = .none
        timeouts.lingerStarted(now: now)
        return true
    }

    struct Closing: Equatable {
        /// It waited in the admission queue: leave it.
        var leaveQueue: Bool
        /// An exchange was under way: log it with this status (499 if no response had begun).
        var recordStatus: Int?
    }

    /// Closes now. Nil if already closed.
    mutating func closeNow() -> Closing? {
        guard !isClosed else { return nil }
        var closing = Closing(leaveQueue: state == .queued, recordStatus: nil)
        if record.counted {
            // The client went away (or the proxy is closing it) mid-exchange:
            // logged as 499, nginx's "client closed request".
            if record.failureReason == nil { record.fail(.clientClosed, "client closed connection") }
            closing.recordStatus = exchange.responseStarted ? exchange.statusCode : 499
        }
        state = .closed
        return closing
    }
}

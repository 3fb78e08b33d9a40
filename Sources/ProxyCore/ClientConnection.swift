import ProxyHTTP
import ProxyUV

/// One client connection and the exchange in progress on it.
///
/// It reads requests with its parser, sends each upstream on a pooled or new
/// connection, and relays the response back, one exchange at a time: after a
/// request is complete the parser pauses, and pipelined bytes wait in
/// `pendingInput` until the response has been relayed. Back-pressure: when
/// the side being written to has more than `highWaterMark` bytes queued, the
/// side being read from stops until the queue drains.
///
/// This file holds the client side; `+Upstream` the upstream side and
/// tunnels; `+Responses` responses made here, logging and closing.
final class ClientConnection: StreamDelegate, HTTPParserDelegate, TimerDelegate, UpstreamClientDelegate {
    enum Mode { case http, tunnel, closing, closed }
    enum LocalRoute { case health, metrics, queueFull }

    static let highWaterMark = 64 * 1024

    // The server outlives every connection (it lives as long as the process):
    // no reference counting on this hot reference.
    let server: ProxyServer
    let stream: Stream
    let parser: HTTPParser
    let timer: Timer
    var timeouts: ClientTimeouts
    var armedDeadline = UInt64.max
    var mode = Mode.http

    var exchange = ExchangeState()
    var upstream: UpstreamClient?
    var localRoute: LocalRoute?
    var requestFraming = BodyFraming.none
    var closeAfterResponse = false
    var exchangeStart: UInt64 = 0
    var requestBodyBytes = 0
    var responseBodyBytes = 0
    var failureReason: String?
    /// A proxied exchange is under way and not yet logged and counted.
    var exchangeActive = false
    var firstByteNanoseconds: UInt64?
    var requestID: [UInt8] = []
    var requestIDField: [UInt8] = []

    /// The parser stopped at the end of a request; bytes after it wait here.
    var pausedAfterMessage = false
    /// A health probe waits for the first health check.
    var awaitingHealth = false
    /// The request waits in the admission queue, its parser paused before the body.
    var parkedInQueue = false
    /// The request holds an admission slot (see AdmissionQueue).
    var admitted = false
    var awaitingUpgrade = false
    /// Reading stopped because the upstream's write queue is full.
    var readingHeldByBackpressure = false
    var pendingInput: [UInt8] = []
    var spareInput: [UInt8] = []

    let requestHead = HeadBuffer()
    /// The body bytes a failed upstream client had kept, sent again on the next.
    var pendingReplay: [UInt8] = []
    /// When the supervised runtime first refused this exchange's connection.
    var refusedSince: UInt64?
    /// When to try a runtime that refused again (the connection's one timer serves it).
    var refusalRetryAt: UInt64?
    let responseHead = HeadBuffer()
    var chunkHeader: [UInt8] = []
    var clientEnded = false
    var upstreamEnded = false
    var lingerQueued = 0

    /// What the proxy adds about this client to each request (made once).
    let forwarding: HeadWriter.Forwarding
    let remoteDescription: String
    /// Accepted on the admin port: only the proxy's own routes are served.
    let isAdmin: Bool

    init(server: ProxyServer, stream: Stream, isAdmin: Bool) {
        self.server = server
        self.stream = stream
        self.isAdmin = isAdmin
        parser = HTTPParser(kind: .request, limits: server.config.headLimits, consumedField: RequestTimeoutHeader.name)
        timer = Timer(loop: server.loop)
        timeouts = ClientTimeouts(durations: server.timeoutDurations, now: server.loop.nowMilliseconds)
        let peer = stream.peerAddress()
        forwarding = HeadWriter.Forwarding(clientAddress: Array((peer?.host ?? "unknown").utf8))
        remoteDescription = peer.map { $0.host.contains(":") ? "[\($0.host)]:\($0.port)" : "\($0.host):\($0.port)" } ?? "unknown"
        parser.delegate = self
        stream.delegate = self
        timer.delegate = self
    }

    /// No request under way: safe to close while draining.
    var isIdle: Bool {
        mode == .http && !exchangeActive && !parser.isInMessage && !awaitingHealth && localRoute == nil
    }

    func start() {
        stream.startReading()
        rearmTimer()
    }

    var now: UInt64 { server.loop.nowMilliseconds }

    // MARK: Client stream events (the upstream's come through UpstreamClientDelegate)

    func streamDidRead(_ source: Stream, _ bytes: RawSpan) {
        clientDidRead(bytes)
        rearmTimer()
    }

    func streamDidReachEnd(_ source: Stream) {
        clientDidEnd()
        rearmTimer()
    }

    func streamDidFail(_ source: Stream, _ error: UVError) {
        failureReason = "client \(error.name)"
        abort()
        rearmTimer()
    }

    /// An accepted stream is connected from the start.
    func streamDidConnect(_ source: Stream) {}
    func streamDidFailToConnect(_ source: Stream, _ error: UVError) {}

    /// The client took what was queued for it: the upstream is read again.
    func streamDidDrain(_ source: Stream) {
        if !upstreamEnded { upstream?.startReading() }
    }

    // MARK: Client side

    private func clientDidRead(_ bytes: RawSpan) {
        switch mode {
        case .tunnel:
            timeouts.tunnelActivity(now: now)
            forwardToUpstream(bytes)
        case .http:
            if pausedAfterMessage || awaitingUpgrade {
                pendingInput.append(bytesOf: bytes)
                updateClientReading()
            } else {
                parse(bytes)
            }
        case .closing, .closed:
            break
        }
    }

    func parse(_ bytes: RawSpan) {
        timeouts.requestBegan(now: now)
        switch parser.execute(bytes) {
        case .consumedAll:
            break
        case .paused(let consumed) where parkedInQueue:
            // Stopped before the body: it waits, with the client unread, for admission.
            pendingInput.append(bytesOf: bytes, from: consumed)
            updateClientReading()
        case .paused(let consumed):
            // A request went upstream: the rest waits for its response. (Or
            // the connection is closing, and the rest is dropped.)
            if mode == .http {
                pendingInput.append(bytesOf: bytes, from: consumed)
                pausedAfterMessage = true
            }
            updateClientReading()
        case .upgraded(let consumed):
            pendingInput.append(bytesOf: bytes, from: consumed)
            awaitingUpgrade = true
            updateClientReading()
        case .failed(let error):
            requestDidFail(error)
        }
    }

    /// Writes `bytes` to the client, holding the upstream back while the client is full.
    func forwardToClient(_ bytes: RawSpan) {
        stream.write(bytes)
        holdUpstreamWhileClientIsFull()
    }

    /// Writes tunnel bytes to the upstream, holding the client back while the upstream is full.
    func forwardToUpstream(_ bytes: RawSpan) {
        upstream?.write(bytes)
        holdClientWhileUpstreamIsFull()
    }

    /// The client's queue is over the mark: stop reading the upstream until it drains.
    func holdUpstreamWhileClientIsFull() {
        guard stream.queuedByteCount > Self.highWaterMark else { return }
        upstream?.stopReading()
        stream.notifyWhenDrained()
    }

    /// The upstream's queue is over the mark: stop reading the client until it drains.
    func holdClientWhileUpstreamIsFull() {
        guard let upstream, upstream.queuedByteCount > Self.highWaterMark else { return }
        readingHeldByBackpressure = true
        updateClientReading()
        upstream.notifyWhenDrained()
    }

    func updateClientReading() {
        let wanted: Bool
        switch mode {
        // While a response is awaited the client is still read (a pipelined
        // request is kept, up to a bound): stopping and starting the read for
        // every request would cost two epoll_ctl calls each time.
        case .http: wanted = (!pausedAfterMessage || pendingInput.count < Self.highWaterMark) && !awaitingUpgrade
                && !readingHeldByBackpressure && !parkedInQueue && !clientEnded
        case .tunnel: wanted = !readingHeldByBackpressure && !clientEnded
        case .closing: wanted = !clientEnded
        case .closed: wanted = false
        }
        if wanted { stream.startReading() } else { stream.stopReading() }
    }

    private func clientDidEnd() {
        clientEnded = true
        switch mode {
        case .tunnel:
            upstream?.shutdownAfterWrites()
            if upstreamEnded { closeNow() }
        case .http:
            if upstream != nil && exchange.requestComplete && !parser.isInMessage {
                // The client is done sending (a half-close): the response still goes to it, then the connection closes.
                closeAfterResponse = true
                updateClientReading()
            } else if upstream != nil || parser.isInMessage || parkedInQueue {
                failureReason = "client closed mid-request"
                abort()
            } else {
                // Between requests. A response completed in this same loop
                // turn may still be queued: it goes out before the close.
                closeNow(flushingQueuedOutput: true)
            }
        case .closing:
            // Lingering after the last response: it may still be queued.
            closeNow(flushingQueuedOutput: true)
        case .closed:
            break
        }
    }

    /// The first health check finished: answer the waiting probe, go on.
    func healthCheckDidFinish() {
        guard awaitingHealth, mode == .http else { return }
        awaitingHealth = false
        respondLocally(.health)
        resumeAfterExchange()
        rearmTimer()
    }

    /// Parses the bytes held while the parser was paused. They move to a
    /// local first: parsing may hold new bytes back in `pendingInput`.
    private func parseHeldInput() {
        swap(&pendingInput, &spareInput)
        do {
            let input = spareInput
            input.withRawSpan { parse($0) }
        }
        spareInput.removeAll(keepingCapacity: true)
    }

    /// The admission queue let this request through: send it upstream and
    /// go on with its body.
    func admit() {
        guard parkedInQueue, mode == .http else { return }
        parkedInQueue = false
        admitted = true
        timeouts.admitted()
        attachUpstream(retrying: false)
        parser.resume()
        // Parsed even when empty: a request without a body completes here.
        parseHeldInput()
        updateClientReading()
        rearmTimer()
    }

    /// After a response is complete: take the next pipelined request or read on.
    func resumeAfterExchange() {
        guard mode == .http else { return }
        pausedAfterMessage = false
        // The upstream it waited on is gone; the next request starts unthrottled.
        readingHeldByBackpressure = false
        parser.resume()
        if !pendingInput.isEmpty {
            parseHeldInput()
        }
        updateClientReading()
    }

    // MARK: Request parser events

    func parserDidCompleteHead(_ parser: HTTPParser) -> BodyExpectation {
        let head = parser.head
        timeouts.headCompleted(now: now)
        exchange = ExchangeState()
        refusedSince = nil
        exchange.method = head.method
        exchange.clientIsHTTP10 = head.isHTTP10
        exchange.clientWantsKeepAlive = head.keepAlive
        exchange.isUpgrade = head.isUpgrade
        exchangeStart = server.loop.nowNanoseconds
        requestBodyBytes = 0
        responseBodyBytes = 0
        failureReason = nil
        firstByteNanoseconds = nil
        closeAfterResponse = false
        requestFraming = BodyFraming.forRequest(head)
        localRoute = server.localRoute(for: head, onAdminPort: isAdmin)
        if localRoute != nil || head.method == .connect {
            requestID.removeAll(keepingCapacity: true)
            return .asFramed
        }
        if let shorter = RequestTimeoutHeader.milliseconds(in: head) {
            timeouts.headCompleted(now: now, requestTimeout: shorter)
        }
        requestIDField.removeAll(keepingCapacity: true)
        if let sent = head.firstValue(of: .requestID), RequestIDGenerator.isUsable(sent) {
            requestID.removeAll(keepingCapacity: true)
            requestID.append(contentsOf: sent)
        } else {
            server.requestIDs.generate(into: &requestID)
            requestIDField.append("X-Request-Id: ")
            requestIDField.append(contentsOf: requestID)
            requestIDField.append("\r\n")
        }
        HeadWriter.writeRequest(head, framing: requestFraming, forwarding: forwarding,
                                extraFields: requestIDField, into: requestHead)
        if requestIDField.isEmpty {
            // The client's own id goes back to it too.
            requestIDField.append("X-Request-Id: ")
            requestIDField.append(contentsOf: requestID)
            requestIDField.append("\r\n")
        }
        switch server.admission.request(self) {
        case .admitted:
            exchangeActive = true
            server.exchangeStarted()
            admitted = true
            attachUpstream(retrying: false)
            return .asFramed
        case .queued:
            exchangeActive = true
            server.exchangeStarted()
            parkedInQueue = true
            timeouts.queued(until: now + server.queueWaitMilliseconds)
            return .pauseBeforeBody
        case .rejected:
            failureReason = "admission queue full"
            localRoute = .queueFull
            return .asFramed
        }
    }

    func parser(_ parser: HTTPParser, didReceiveBody bytes: RawSpan) {
        requestBodyBytes += bytes.byteCount
        guard localRoute == nil, let upstream else { return }
        if requestFraming == .chunked {
            ChunkedEncoding.chunkHeader(size: bytes.byteCount, into: &chunkHeader)
            upstream.send(chunkHeader)
            upstream.send(bytes)
            upstream.send(ChunkedEncoding.chunkEnd)
        } else {
            upstream.send(bytes)
        }
        exchange.requestBodyBytesSent += bytes.byteCount
        holdClientWhileUpstreamIsFull()
    }

    func parserDidCompleteMessage(_ parser: HTTPParser) -> Bool {
        exchange.requestComplete = true
        if let localRoute {
            if localRoute == .health, !server.isDraining, server.health.needsFirstCheck(self) {
                // Paused until the first health check answers.
                awaitingHealth = true
                return true
            }
            respondLocally(localRoute)
            return mode != .http
        }
        if parser.head.method == .connect {
            respondWithError(status: 405, reason: "Method Not Allowed", detail: "CONNECT is not supported", keepClientOpen: false)
            return true
        }
        if requestFraming == .chunked { upstream?.send(ChunkedEncoding.lastChunk) }
        // An upgrade request lets llhttp stop at the switch; others pause here.
        return !exchange.isUpgrade
    }

    // MARK: Timer: the timeouts, and the wait before trying a refusing runtime again

    func rearmTimer() {
        guard mode != .closed else { return }
        var deadline = timeouts.next.deadline
        if let retryAt = refusalRetryAt, retryAt < deadline { deadline = retryAt }
        if deadline < armedDeadline || !timer.isArmed {
            armedDeadline = deadline
            timer.start(milliseconds: deadline > now ? deadline - now : 0)
        }
    }

    func timerDidFire(_ timer: Timer) {
        armedDeadline = .max
        if let retryAt = refusalRetryAt, now >= retryAt {
            refusalRetryAt = nil
            retryAfterRefusal()
        }
        if mode != .closed, let kind = timeouts.expired(now: now) { didTimeOut(kind) }
        rearmTimer()
    }
}

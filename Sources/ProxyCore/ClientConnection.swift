import ProxyHTTP
import ProxySystem

/// One client connection: the I/O shell around its `ConnectionStateMachine`.
///
/// It owns the client's stream, request parser and timer, the upstream
/// client an exchange borrows, and the reused buffers; it feeds each event
/// to the state machine and carries out what it answers. Requests are
/// served one exchange at a time: after a request is complete the parser
/// pauses, and pipelined bytes wait in `pendingInput` until the response has
/// been relayed. Back-pressure: when the side being written to has more than
/// `highWaterMark` bytes queued, the side being read from stops until the
/// queue drains.
///
/// This file holds the client side; `+Upstream` the upstream side and
/// tunnels; `+Responses` responses made here, logging and closing.
final class ClientConnection: StreamDelegate, HTTPParserDelegate, TimerDelegate, UpstreamClientDelegate {
    static let highWaterMark = ConnectionStateMachine.highWaterMark

    // The server outlives every connection: a plain reference (a retain per
    // connection, none per access).
    let server: ProxyServer
    /// The server's loop, held here too: the clock is read several times an
    /// exchange, and one hop less spares a retain and release each time.
    let loop: EventLoop
    let stream: Stream
    let parser: HTTPParser
    let timer: Timer
    var machine: ConnectionStateMachine
    var armedDeadline = UInt64.max

    /// The upstream client the exchange borrowed (set exactly while the
    /// state machine is proxying or tunnelling).
    var upstream: UpstreamClient?
    var requestID = RequestIDField()
    var trace = TraceContext()
    var pendingInput: [UInt8] = []
    var spareInput: [UInt8] = []
    let requestHead = HeadBuffer()
    let responseHead = HeadBuffer()
    var chunkHeader: [UInt8] = []
    /// A chunked request body being collected (`--buffer-request-body`).
    var collected = CollectedBody()

    /// What the proxy adds about this client to each request (made once).
    let forwarding: HeadWriter.Forwarding
    let remoteDescription: String
    /// Accepted on the admin port: only the proxy's own routes are served.
    let isAdmin: Bool

    init(server: ProxyServer, stream: Stream, isAdmin: Bool) {
        self.server = server
        loop = server.loop
        self.stream = stream
        self.isAdmin = isAdmin
        parser = HTTPParser(kind: .request, limits: server.config.headLimits, consumedField: RequestTimeoutHeader.name)
        timer = Timer(loop: server.loop)
        machine = ConnectionStateMachine(timeouts: server.timeoutDurations, bodyBufferLimit: server.config.requestBodyBufferLimit,
                                         now: server.loop.nowMilliseconds)
        let peer = stream.peerAddress()
        forwarding = HeadWriter.Forwarding(clientAddress: Array((peer?.host ?? "unknown").utf8))
        remoteDescription = peer.map { $0.host.contains(":") ? "[\($0.host)]:\($0.port)" : "\($0.host):\($0.port)" } ?? "unknown"
        parser.delegate = self
        stream.delegate = self
        timer.delegate = self
    }

    /// No request under way: safe to close while draining.
    var isIdle: Bool { machine.isIdle(parserInMessage: parser.isInMessage) }

    func start() {
        stream.startReading()
        rearmTimer()
    }

    var now: UInt64 { loop.nowMilliseconds }

    // MARK: Client stream events (the upstream's come through UpstreamClientDelegate)

    func streamDidRead(_ source: Stream, _ bytes: RawSpan) {
        switch machine.clientBytesArrived(now: now) {
        case .parse: parse(bytes)
        case .hold:
            pendingInput.append(bytesOf: bytes)
            updateClientReading()
        case .forwardToUpstream: forwardToUpstream(bytes)
        case .discard: break
        }
        rearmTimer()
    }

    func streamDidReachEnd(_ source: Stream) {
        switch machine.clientDidEnd(parserInMessage: parser.isInMessage) {
        case .endTunnel(let closeNow):
            upstream?.shutdownAfterWrites()
            if closeNow { self.closeNow() }
        case .closeAfterResponse: updateClientReading()
        case .abort: abort()
        // A response completed in this same loop turn may still be queued: it goes out before the close.
        case .closeAfterQueuedOutput: closeNow(flushingQueuedOutput: true)
        case .nothing: break
        }
        rearmTimer()
    }

    func streamDidFail(_ source: Stream, _ error: UVError) {
        machine.clientFailed(error.name)
        abort()
        rearmTimer()
    }

    /// An accepted stream is connected from the start.
    func streamDidConnect(_ source: Stream) {}
    func streamDidFailToConnect(_ source: Stream, _ error: UVError) {}

    /// The client took what was queued for it: the upstream is read again.
    func streamDidDrain(_ source: Stream) {
        if !machine.upstreamEndedTunnel { upstream?.startReading() }
    }

    // MARK: Client side

    func parse(_ bytes: RawSpan) {
        machine.parsing(now: now)
        switch parser.execute(bytes) {
        case .consumedAll:
            break
        case .paused(let consumed):
            // Before a queued request's body, or after a request went
            // upstream: the rest waits. (Closing: the rest is dropped.)
            if machine.parserPaused() { pendingInput.append(bytesOf: bytes, from: consumed) }
            updateClientReading()
        case .upgraded(let consumed):
            machine.parserStoppedAtUpgrade()
            pendingInput.append(bytesOf: bytes, from: consumed)
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
        machine.upstreamFull()
        updateClientReading()
        upstream.notifyWhenDrained()
    }

    func updateClientReading() {
        if machine.wantsClientReading(heldBytes: pendingInput.count) { stream.startReading() } else { stream.stopReading() }
    }

    /// The first health check finished: answer the waiting probe, go on.
    func healthCheckDidFinish() {
        guard machine.healthCheckFinished() else { return }
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
        guard let action = machine.admitted() else { return }
        if action == .sendUpstream { attachUpstream(retrying: false) }
        machine.releaseHold()
        parser.resume()
        // Parsed even when empty: a request without a body completes here.
        parseHeldInput()
        updateClientReading()
        rearmTimer()
    }

    /// After a response is complete: take the next pipelined request or read on.
    func resumeAfterExchange() {
        guard machine.resumeAfterExchange() else { return }
        parser.resume()
        if !pendingInput.isEmpty { parseHeldInput() }
        updateClientReading()
    }

    // MARK: Request parser events

    func parserDidCompleteHead(_ parser: HTTPParser) -> BodyExpectation {
        let head = parser.head
        let facts = ConnectionStateMachine.RequestFacts(
            method: head.method, isHTTP10: head.isHTTP10, keepAlive: head.keepAlive, isUpgrade: head.isUpgrade,
            framing: BodyFraming.forRequest(head), localRoute: server.localRoute(for: head, onAdminPort: isAdmin),
            requestTimeout: RequestTimeoutHeader.milliseconds(in: head))
        guard machine.requestHeadCompleted(facts, now: now, nowNanoseconds: loop.nowNanoseconds) == .forward else {
            requestID.clear()
            trace.clear()
            return .asFramed
        }
        let idMadeHere = requestID.begin(sent: head.firstValue(of: .requestID), generator: &server.requestIDs)
        trace.begin(sent: head.firstValue(of: .traceparent), generate: server.config.generateTraceContext,
                    requestID: idMadeHere ? requestID.id : nil, generator: &server.requestIDs)
        var extraFields = idMadeHere ? requestID.field : []
        // A binary-mode CloudEvent (rare): its attributes as Kubeless event-* headers too.
        if head.contains(.cloudEvent), server.config.mapCloudEvents { extraFields += CloudEventHeaders.kubelessFields(for: head) }
        HeadWriter.writeRequest(head, framing: facts.framing, forwarding: forwarding, extraFields: extraFields,
                                moreFields: trace.madeHere ? trace.upstreamField : [], into: requestHead)
        let decision = server.admission.request(self)
        switch machine.admissionDecided(decision, now: now, queueWait: server.queueWaitMilliseconds) {
        case .sendUpstream:
            server.exchangeStarted()
            attachUpstream(retrying: false)
            return .asFramed
        case .waitInQueue:
            server.exchangeStarted()
            return .pauseBeforeBody
        case .collectBody:
            server.exchangeStarted()
            return .asFramed
        case .answerQueueFull:
            return .asFramed
        }
    }

    func parser(_ parser: HTTPParser, didReceiveBody bytes: RawSpan) {
        let framing: BodyFraming
        switch machine.requestBodyArrived(byteCount: bytes.byteCount, now: now) {
        case .drop: return
        case .forward(let how): framing = how
        case .collect:
            collect(bytes)
            return
        case .tooLarge(let limit):
            respondWithError(status: 413, detail: "request body larger than \(limit) bytes", keepClientOpen: false)
            return
        }
        guard let upstream else { return }
        if framing == .chunked {
            ChunkedEncoding.chunkHeader(size: bytes.byteCount, into: &chunkHeader)
            upstream.send(chunkHeader)
            upstream.send(bytes)
            upstream.send(ChunkedEncoding.chunkEnd)
        } else {
            upstream.send(bytes)
        }
        holdClientWhileUpstreamIsFull()
    }

    func parserDidCompleteMessage(_ parser: HTTPParser) -> Bool {
        let healthPending = !server.isDraining && server.health.awaitsFirstCheck
        switch machine.requestCompleted(firstHealthCheckPending: healthPending, now: now) {
        case .waitForHealthCheck:
            // Paused until the first health check answers.
            server.health.waitForFirstCheck(self)
            return true
        case .answerLocally(let route):
            respondLocally(route)
            return !machine.isHTTP
        case .refuseConnect:
            respondWithError(status: 405, detail: "CONNECT is not supported", keepClientOpen: false)
            return true
        case .sendCollected(let contentLength):
            sendCollectedBody(contentLength: contentLength)
            return true
        case .forwarded(let lastChunk):
            if lastChunk { upstream?.send(ChunkedEncoding.lastChunk) }
            // An upgrade request lets llhttp stop at the switch; others pause here.
            return !machine.exchange.isUpgrade
        }
    }

    // MARK: Timer: the timeouts, and the wait before trying a refusing runtime again

    func rearmTimer() {
        guard !machine.isClosed else { return }
        let deadline = machine.nextDeadline
        if deadline < armedDeadline || !timer.isArmed {
            armedDeadline = deadline
            timer.start(milliseconds: deadline > now ? deadline - now : 0)
        }
    }

    func timerDidFire(_ timer: Timer) {
        armedDeadline = .max
        if machine.retryIsDue(now: now) { retryAfterRefusal() }
        if let (kind, action) = machine.timeoutExpired(now: now, nowNanoseconds: loop.nowNanoseconds,
                                                       queuedBytes: stream.queuedByteCount, runtimeReady: server.admission.runtimeReady) {
            didTimeOut(kind, action)
        }
        rearmTimer()
    }
}

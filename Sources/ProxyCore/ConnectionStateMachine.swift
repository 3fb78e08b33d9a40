import ProxyHTTP

/// The decisions of one client connection, as a pure value: what state it
/// is in, what each event means there, and what the connection must do
/// about it. No I/O and no clock: every event brings the loop's time, and
/// `ClientConnection` (the shell) feeds events in and carries the returned
/// actions out. Tested without sockets (ConnectionStateMachineTests).
///
/// Events come from four sources: the client's stream and request parser
/// (this file), the upstream client and the timer (`+Upstream`), and the
/// server (admission, health, drain). The exchange in progress is
/// `exchange` (its decisions: retries, reuse, keep-alive) and `record`
/// (what is logged and counted when it ends); both start afresh with each
/// request head.
struct ConnectionStateMachine {
    /// A request the proxy answers itself.
    enum LocalRoute: Equatable { case health, metrics, queueFull }

    enum State: Equatable {
        /// No exchange: idle between requests, or reading a request head.
        case awaitingRequest
        /// The request is for one of the proxy's own routes; its body is being read.
        case answeringLocally(LocalRoute)
        /// A CONNECT request, refused (405) once it has been read.
        case refusingConnect
        /// A health probe waits for the first health check to finish.
        case awaitingHealth
        /// The request waits for admission (a ready runtime, a free slot),
        /// its body unread, until the queue deadline in `timeouts`.
        case queued
        /// A chunked request body is being collected (`--buffer-request-body`),
        /// to go upstream with a `Content-Length` once whole.
        case bufferingBody
        /// The request has an upstream client: being sent, its response
        /// awaited or relayed.
        case proxying
        /// No upstream client: the supervised runtime refused, and is tried
        /// again at `retryAt` with what the failed client had kept (`replay`).
        case awaitingRetry(retryAt: UInt64)
        /// After a 101: bytes flow both ways untouched.
        case tunnel(upstreamEnded: Bool)
        /// After the last response: FIN sent, the client's bytes read and
        /// dropped until it closes or the linger timeout; `queuedBytes` is
        /// what was still unwritten when the linger timeout last looked.
        case lingering(queuedBytes: Int)
        case closed
    }

    /// Where the request parser stopped and why the bytes after it are held.
    enum InputHold: Equatable {
        /// Parsing goes on as bytes arrive.
        case none
        /// Paused after the head of a queued request: its body waits.
        case beforeBody
        /// Paused at the end of a request: a pipelined one waits for the response.
        case atMessageEnd
        /// Stopped at an upgrade request: its bytes wait for the 101 (or the refusal).
        case atUpgrade
    }

    /// What the access log line and the metrics need of an exchange.
    struct Record {
        var startNanoseconds: UInt64 = 0
        var firstByteNanoseconds: UInt64?
        var requestBodyBytes = 0
        var responseBodyBytes = 0
        /// Why the proxy ended the exchange: the detail (text log) and its token.
        var failureReason: String?
        var error: ProxyError?
        /// The exchange went upstream (or waits to): counted in flight, and
        /// counted once more when it ends.
        var counted = false
        /// It holds an admission slot (see AdmissionQueue).
        var admitted = false
        /// When the supervised runtime first refused this exchange's connection.
        var refusedSince: UInt64?
        var requestFraming = BodyFraming.none
        /// The client connection closes after this response.
        var closeAfterResponse = false
    }

    static let highWaterMark = 64 * 1024
    // The stored state below is changed only by this type's methods (here
    // and in +Upstream); the shell reads it.
    static let refusalRetryMilliseconds: UInt64 = 50

    var state = State.awaitingRequest
    var hold = InputHold.none
    var exchange = ExchangeState()
    var record = Record()
    var timeouts: ClientTimeouts
    /// What a failed upstream client had sent and kept, for the next one.
    var replay: [UInt8] = []
    /// The client sent its FIN.
    var clientEnded = false
    /// Reading the client stopped: the upstream's write queue is full, or
    /// the request waits for a refusing runtime to be tried again.
    var clientHeldBack = false

    /// The largest chunked request body collected before it goes upstream;
    /// nil: chunked bodies stream (the default).
    let bodyBufferLimit: Int?

    init(timeouts: ClientTimeouts.Durations, bodyBufferLimit: Int? = nil, now: UInt64) {
        self.timeouts = ClientTimeouts(durations: timeouts, now: now)
        self.bodyBufferLimit = bodyBufferLimit
    }

    /// The connection carries HTTP (not a tunnel, not closing).
    var isHTTP: Bool {
        switch state {
        case .tunnel, .lingering, .closed: false
        default: true
        }
    }

    var isClosed: Bool { state == .closed }

    /// No request under way: the connection may be closed while draining.
    func isIdle(parserInMessage: Bool) -> Bool {
        state == .awaitingRequest && !record.counted && !parserInMessage
    }

    /// Whether the client should be read, given the bytes already held.
    func wantsClientReading(heldBytes: Int) -> Bool {
        switch state {
        case .tunnel: return !clientHeldBack && !clientEnded
        case .lingering: return !clientEnded
        case .closed: return false
        default:
            // While a response is awaited the client is still read (a
            // pipelined request is kept, up to a bound): stopping and starting
            // the read for every request would cost two epoll_ctl calls each time.
            let holdAllows = switch hold {
            case .none: true
            case .atMessageEnd: heldBytes < Self.highWaterMark
            case .beforeBody, .atUpgrade: false
            }
            return holdAllows && !clientHeldBack && !clientEnded
        }
    }

    /// The earliest deadline: a timeout's, or the retry of a refusing runtime.
    var nextDeadline: UInt64 {
        let deadline = timeouts.next.deadline
        if case .awaitingRetry(let retryAt) = state, retryAt < deadline { return retryAt }
        return deadline
    }

    // MARK: Client bytes

    enum ClientBytesAction: Equatable {
        /// Feed them to the request parser.
        case parse
        /// Keep them until the parser may go on.
        case hold
        /// Tunnel bytes: write them to the upstream as they are.
        case forwardToUpstream
        /// Closing: nothing more is wanted from this client.
        case discard
    }

    mutating func clientBytesArrived(now: UInt64) -> ClientBytesAction {
        switch state {
        case .tunnel:
            timeouts.tunnelActivity(now: now)
            return .forwardToUpstream
        case .lingering, .closed:
            return .discard
        default:
            return hold == .none ? .parse : .hold
        }
    }

    /// Bytes go to the parser (new ones, or held ones).
    mutating func parsing(now: UInt64) { timeouts.requestBegan(now: now) }

    /// The parser paused: before a queued request's body, or at the end of a
    /// request. Returns whether the bytes after the pause are kept (closing,
    /// they are dropped).
    mutating func parserPaused() -> Bool {
        switch state {
        case .queued:
            hold = .beforeBody
            return true
        case .tunnel, .lingering, .closed:
            return false
        default:
            hold = .atMessageEnd
            return true
        }
    }

    /// The parser stopped at an upgrade request; the bytes after it are kept.
    mutating func parserStoppedAtUpgrade() { hold = .atUpgrade }

    /// Held bytes go back to the parser: the hold is over.
    mutating func releaseHold() { hold = .none }

    // MARK: The request

    /// What the connection learnt from a complete request head.
    struct RequestFacts {
        var method: HTTPMethod
        var isHTTP10: Bool
        var keepAlive: Bool
        var isUpgrade: Bool
        var framing: BodyFraming
        var localRoute: LocalRoute?
        /// A shorter timeout the request asked for (`X-Request-Timeout`).
        var requestTimeout: UInt64?
    }

    enum HeadAction: Equatable {
        /// Answered here once read (a local route, CONNECT): no request id, nothing upstream.
        case answerHere
        /// Forwarded: write its head for the upstream, then ask for admission.
        case forward
    }

    mutating func requestHeadCompleted(_ facts: RequestFacts, now: UInt64, nowNanoseconds: UInt64) -> HeadAction {
        timeouts.headCompleted(now: now)
        exchange = ExchangeState()
        exchange.method = facts.method
        exchange.clientIsHTTP10 = facts.isHTTP10
        exchange.clientWantsKeepAlive = facts.keepAlive
        exchange.isUpgrade = facts.isUpgrade
        record = Record(startNanoseconds: nowNanoseconds, requestFraming: facts.framing)
        if let route = facts.localRoute {
            state = .answeringLocally(route)
            return .answerHere
        }
        if facts.method == .connect {
            state = .refusingConnect
            return .answerHere
        }
        if let shorter = facts.requestTimeout { timeouts.headCompleted(now: now, requestTimeout: shorter) }
        return .forward
    }

    enum AdmissionAction: Equatable {
        /// Counted in flight; send the request upstream and read its body on.
        case sendUpstream
        /// Counted in flight; the parser pauses before the body until admitted.
        case waitInQueue
        /// The queue is full: answered 503 here once the request is read.
        case answerQueueFull
        /// Counted in flight; collect the chunked body first (nothing goes upstream yet).
        case collectBody
    }

    /// A chunked body is collected here when buffering is on.
    private var collectsBody: Bool { bodyBufferLimit != nil && record.requestFraming == .chunked }

    /// The admission queue's answer for a forwarded request.
    mutating func admissionDecided(_ decision: AdmissionQueue<ClientConnection>.Decision, now: UInt64,
                                   queueWait: UInt64) -> AdmissionAction {
        switch decision {
        case .admitted:
            record.counted = true
            record.admitted = true
            if collectsBody {
                state = .bufferingBody
                return .collectBody
            }
            return .sendUpstream
        case .queued:
            record.counted = true
            state = .queued
            timeouts.queued(until: now + queueWait)
            return .waitInQueue
        case .rejected:
            record.fail(.queueFull, "admission queue full")
            state = .answeringLocally(.queueFull)
            return .answerQueueFull
        }
    }

    /// The queue let the request through: send it upstream or collect its
    /// body (`.sendUpstream` or `.collectBody`). Nil if it no longer waits.
    mutating func admitted() -> AdmissionAction? {
        guard state == .queued else { return nil }
        record.admitted = true
        timeouts.admitted()
        if collectsBody {
            state = .bufferingBody
            return .collectBody
        }
        return .sendUpstream
    }

    enum BodyAction: Equatable {
        /// Nothing takes it (a local route, no upstream client now).
        case drop
        /// Send it upstream, as it is or re-chunked (`framing`).
        case forward(BodyFraming)
        /// Keep it with the rest of the body.
        case collect
        /// The body passed the buffer limit: 413, and nothing reaches the upstream.
        case tooLarge(limit: Int)
    }

    /// A run of request body bytes: whether (and how) it goes upstream.
    mutating func requestBodyArrived(byteCount: Int) -> BodyAction {
        record.requestBodyBytes += byteCount
        switch state {
        case .proxying:
            exchange.requestBodyBytesSent += byteCount
            return .forward(record.requestFraming)
        case .bufferingBody:
            guard let limit = bodyBufferLimit, record.requestBodyBytes <= limit else {
                record.fail(.bodyTooLarge, "request body larger than the buffer limit")
                return .tooLarge(limit: bodyBufferLimit ?? 0)
            }
            return .collect
        default:
            return .drop
        }
    }

    /// The server's budget for collected bodies has no room for this one.
    mutating func bodyBuffersFull() { record.fail(.bodyBuffersFull, "request body buffers are full") }

    /// The collected body went upstream whole.
    mutating func collectedBodySent() { exchange.requestBodyBytesSent = record.requestBodyBytes }

    enum MessageEndAction: Equatable {
        /// Answer this local route now.
        case answerLocally(LocalRoute)
        /// Wait for the first health check (the parser pauses).
        case waitForHealthCheck
        /// Answer 405 and close.
        case refuseConnect
        /// Forwarded: end a chunked body upstream if `lastChunk`, and pause
        /// the parser unless it stops at an upgrade.
        case forwarded(lastChunk: Bool)
        /// The collected body is whole: send the head with its length and
        /// the body upstream, and pause the parser.
        case sendCollected(contentLength: Int)
    }

    /// The whole request has been read. `firstHealthCheckPending`: no health
    /// check has finished yet and the proxy is not draining.
    mutating func requestCompleted(firstHealthCheckPending: Bool) -> MessageEndAction {
        exchange.requestComplete = true
        switch state {
        case .answeringLocally(.health) where firstHealthCheckPending:
            state = .awaitingHealth
            return .waitForHealthCheck
        case .answeringLocally(let route):
            return .answerLocally(route)
        case .refusingConnect:
            // The token only: the text log has always shown no reason for it.
            record.error = .methodNotAllowed
            return .refuseConnect
        case .bufferingBody:
            return .sendCollected(contentLength: record.requestBodyBytes)
        default:
            return .forwarded(lastChunk: record.requestFraming == .chunked && state == .proxying)
        }
    }

    /// The first health check finished: answer the probe if it still waits.
    mutating func healthCheckFinished() -> Bool {
        guard state == .awaitingHealth else { return false }
        state = .answeringLocally(.health)
        return true
    }

    // MARK: The client's end

    enum ClientEndAction: Equatable {
        /// Tunnel: shut down the upstream's sending side; close if it has ended too.
        case endTunnel(closeNow: Bool)
        /// The request is whole: the response still goes out, then the connection closes.
        case closeAfterResponse
        /// Mid-request: both connections drop.
        case abort
        /// Between requests or lingering: close, after what is queued for the client.
        case closeAfterQueuedOutput
        case nothing
    }

    mutating func clientDidEnd(parserInMessage: Bool) -> ClientEndAction {
        clientEnded = true
        switch state {
        case .tunnel(let upstreamEnded):
            return .endTunnel(closeNow: upstreamEnded)
        case .lingering:
            return .closeAfterQueuedOutput
        case .closed:
            return .nothing
        case .proxying where exchange.requestComplete && !parserInMessage:
            record.closeAfterResponse = true
            return .closeAfterResponse
        case .proxying, .queued, .bufferingBody:
            record.fail(.clientClosed, "client closed mid-request")
            return .abort
        default:
            if parserInMessage {
                record.fail(.clientClosed, "client closed mid-request")
                return .abort
            }
            return .closeAfterQueuedOutput
        }
    }

    mutating func clientFailed(_ errorName: String) { record.fail(.clientError, "client \(errorName)") }

    // MARK: Back-pressure

    /// The upstream's queue went over the mark: stop reading the client.
    mutating func upstreamFull() { clientHeldBack = true }
    /// The upstream took what was queued: the client is read again.
    mutating func upstreamDrained() { clientHeldBack = false }
}

extension ConnectionStateMachine.Record {
    /// The proxy ends the exchange for `error`; `detail` is the log's reason.
    mutating func fail(_ error: ProxyError, _ detail: String) {
        self.error = error
        failureReason = detail
    }
}

import ProxyHTTP

/// The decisions of one client connection, as a pure value: what state it
/// is in, what each event means there, and what the connection must do
/// about it. No I/O and no clock: every event brings the loop's time, and
/// `ClientConnection` (the shell) feeds events in and carries the returned
/// actions out. Tested without sockets (ConnectionStateMachineTests).
///
/// Events come from four sources: the client's stream (this file), the
/// request parser (`+Request`), the upstream client and the timer
/// (`+Upstream`), and the server (admission, health, drain). The exchange in progress is
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
    // The stored state below is changed only by this type's methods (here,
    // in +Request and in +Upstream); the shell reads it.
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

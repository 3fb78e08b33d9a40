import ProxyHTTP

/// The request's events: its head, admission, its body and its end.
extension ConnectionStateMachine {
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
    fileprivate var collectsBody: Bool { bodyBufferLimit != nil && record.requestFraming == .chunked }

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
    mutating func requestBodyArrived(byteCount: Int, now: UInt64) -> BodyAction {
        record.requestBodyBytes += byteCount
        switch state {
        case .proxying:
            timeouts.responseActivity(now: now)
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
    mutating func requestCompleted(firstHealthCheckPending: Bool, now: UInt64) -> MessageEndAction {
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
            // The whole request is upstream now: the response-start timeout runs.
            if state == .proxying { timeouts.requestSent(now: now) }
            return .forwarded(lastChunk: record.requestFraming == .chunked && state == .proxying)
        }
    }

    /// The first health check finished: answer the probe if it still waits.
    mutating func healthCheckFinished() -> Bool {
        guard state == .awaitingHealth else { return false }
        state = .answeringLocally(.health)
        return true
    }
}

import ProxyHTTP
import ProxySystem

/// Responses the proxy makes itself, the end of an exchange, and closing.
extension ClientConnection {
    func respondLocally(_ route: ConnectionStateMachine.LocalRoute) {
        let keepAlive = machine.keepsClient(afterLocalAnswer: true, draining: server.isDraining)
        let includeBody = machine.exchange.method != .head
        let clientIsHTTP10 = machine.exchange.clientIsHTTP10
        let status: Int
        switch route {
        case .health:
            let health = server.healthAnswer()
            status = health.status
            HeadWriter.writeLocalResponse(status: health.status, reason: health.status == 200 ? "OK" : "Service Unavailable",
                                          body: health.body[...], includeBody: includeBody,
                                          keepAlive: keepAlive, clientIsHTTP10: clientIsHTTP10, into: responseHead)
        case .queueFull:
            status = 503
            HeadWriter.writeLocalResponse(status: 503, reason: "Service Unavailable", body: Self.queueFullBody[...], includeBody: includeBody,
                                          keepAlive: keepAlive, clientIsHTTP10: clientIsHTTP10,
                                          extraFields: Self.queueFullFields, into: responseHead)
        case .metrics:
            status = 200
            let body = server.renderMetrics()
            HeadWriter.writeLocalResponse(status: 200, reason: "OK", contentType: "text/plain; version=0.0.4; charset=utf-8",
                                          body: body[...], includeBody: includeBody, keepAlive: keepAlive,
                                          clientIsHTTP10: clientIsHTTP10, into: responseHead)
        }
        responseHead.withBytes { stream.write($0) }
        machine.localAnswerSent(now: now)
        if server.config.logProbes || route == .queueFull { recordExchange(status: status, failed: false) }
        if !keepAlive { closeGracefully() }
    }

    static let queueFullBody: [UInt8] = Array("too many requests waiting for the runtime\n".utf8)
    static let retryAfter: [UInt8] = Array("Retry-After: 1\r\n".utf8)
    static let queueFullFields: [UInt8] = retryAfter + ProxyError.queueFull.field

    static func reasonPhrase(_ status: Int) -> StaticString {
        switch status {
        case 400: "Bad Request"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 431: "Request Header Fields Too Large"
        case 501: "Not Implemented"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: "Bad Gateway"
        }
    }

    /// Answers with an error the proxy made; the body is one line of text.
    func respondWithError(status: Int, detail: String, keepClientOpen: Bool, timeout: TimeoutKind? = nil, retryAfter: Bool = false) {
        let keepAlive = machine.keepsClient(afterLocalAnswer: keepClientOpen, draining: server.isDraining)
        var body = Array(detail.utf8)
        body.append(0x0A)
        var extra = machine.record.counted ? requestID.field : []
        if retryAfter { extra.append(contentsOf: Self.retryAfter) }
        // Who failed: every error the proxy answers says so (docs/logging.md).
        if let error = machine.record.error { extra.append(contentsOf: error.field) }
        HeadWriter.writeLocalResponse(status: status, reason: Self.reasonPhrase(status), body: body[...],
                                      includeBody: machine.exchange.method != .head, keepAlive: keepAlive,
                                      clientIsHTTP10: machine.exchange.clientIsHTTP10, extraFields: extra, into: responseHead)
        responseHead.withBytes { stream.write($0) }
        machine.answeredHere(now: now)
        recordExchange(status: status, failed: true, timeout: timeout)
        closeUpstream()
        if keepAlive { resumeAfterExchange() } else { closeGracefully() }
    }

    /// The request could not be parsed: 400, 414 or 431, and the connection
    /// closes (after a malformed message the next one cannot be found).
    func requestDidFail(_ error: ParseError) {
        switch machine.requestFailed(reason: error.reason, status: error.statusCode, readingHead: parser.isReadingHead,
                                     nowNanoseconds: loop.nowNanoseconds) {
        case .abort: abort()
        case .respond: respondWithError(status: error.statusCode, detail: error.reason, keepClientOpen: false)
        }
    }

    func didTimeOut(_ kind: TimeoutKind, _ action: ConnectionStateMachine.TimeoutAction) {
        switch action {
        case .close:
            closeNow()
        case .keepLingering:
            break
        case .leaveQueue(let detail):
            server.admission.remove(self)
            respondWithError(status: 503, detail: detail, keepClientOpen: false, retryAfter: true)
        case .respond(let status, let detail, let keepClientOpen, let timedOut):
            respondWithError(status: status, detail: detail, keepClientOpen: keepClientOpen, timeout: timedOut ? kind : nil)
        case .abort(let timedOut):
            recordExchange(status: machine.exchange.statusCode, failed: true, timeout: timedOut ? kind : nil)
            abort()
        }
        if kind == .request { server.requestDidTimeOut() }
    }

    /// Logs the exchange, and counts it if it went to the upstream; once.
    func recordExchange(status: Int, failed: Bool, timeout: TimeoutKind? = nil) {
        let accounting = machine.recordingExchange(nowNanoseconds: loop.nowNanoseconds)
        let record = machine.record
        if accounting.countEnded {
            if collected.reserved > 0 { releaseCollectedBody() }
            if accounting.releaseAdmission { server.releaseAdmission() }
            server.metrics.exchangeEnded(method: machine.exchange.method, status: status, failed: failed, timeout: timeout,
                                         durationNanoseconds: accounting.durationNanoseconds, requestBytes: record.requestBodyBytes,
                                         responseBytes: record.responseBodyBytes)
            server.exchangesInFlightChanged()
        }
        parser.makeIncompleteHeadReadable()
        server.accessLog.write(AccessRecord(remote: remoteDescription, head: parser.head, status: status,
                                            durationNanoseconds: accounting.durationNanoseconds,
                                            firstByteNanoseconds: record.firstByteNanoseconds,
                                            requestBytes: record.requestBodyBytes, responseBytes: record.responseBodyBytes,
                                            requestID: requestID.id[...], traceID: server.config.accessLog == .json ? trace.traceID : [], failure: record.failureReason,
                                            error: record.error))
    }

    func closeUpstream() {
        if let upstream {
            upstream.close()
            self.upstream = nil
        }
    }

    /// Ends the connection politely: send what is queued, then FIN, and keep
    /// reading (and dropping) until the client closes or the linger timeout,
    /// so a client still sending is not answered with a reset that could
    /// destroy the response it has not read yet.
    func closeGracefully() {
        guard machine.closeGracefully(now: now) else { return }
        closeUpstream()
        pendingInput.removeAll()
        stream.shutdownAfterWrites()
        updateClientReading()
        rearmTimer()
    }

    /// Something failed mid-exchange: drop both connections at once.
    func abort() {
        closeUpstream()
        closeNow()
    }

    /// Closes the connection now. `flushingQueuedOutput`: what is already
    /// queued for the client (a response finished in this loop turn) is
    /// still written first; otherwise it is dropped.
    func closeNow(flushingQueuedOutput: Bool = false) {
        guard let closing = machine.closeNow() else { return }
        if closing.leaveQueue { server.admission.remove(self) }
        if let status = closing.recordStatus {
            recordExchange(status: status, failed: machine.exchange.responseStarted && server.failureStatuses.contains(status))
        }
        closeUpstream()
        parser.delegate = nil
        timer.close()
        if flushingQueuedOutput { stream.closeAfterWrites() } else { stream.close() }
        server.connectionDidClose(self)
    }
}

import ProxyHTTP
import ProxyUV

/// Responses the proxy makes itself, the end of an exchange, and closing.
extension ClientConnection {
    func respondLocally(_ route: LocalRoute) {
        let keepAlive = exchange.clientKeepAlive(draining: server.isDraining) && !closeAfterResponse && !clientEnded
        let includeBody = exchange.method != .head
        let status: Int
        switch route {
        case .health:
            let health = server.healthAnswer()
            status = health.status
            HeadWriter.writeLocalResponse(status: health.status, reason: health.status == 200 ? "OK" : "Service Unavailable",
                                          body: health.body[...], includeBody: includeBody,
                                          keepAlive: keepAlive, clientIsHTTP10: exchange.clientIsHTTP10, into: responseHead)
        case .queueFull:
            status = 503
            HeadWriter.writeLocalResponse(status: 503, reason: "Service Unavailable", body: Self.queueFullBody[...], includeBody: includeBody,
                                          keepAlive: keepAlive, clientIsHTTP10: exchange.clientIsHTTP10,
                                          extraFields: Self.retryAfter, into: responseHead)
        case .metrics:
            status = 200
            let body = server.renderMetrics()
            HeadWriter.writeLocalResponse(status: 200, reason: "OK", contentType: "text/plain; version=0.0.4; charset=utf-8",
                                          body: body[...], includeBody: includeBody, keepAlive: keepAlive,
                                          clientIsHTTP10: exchange.clientIsHTTP10, into: responseHead)
        }
        responseHead.withBytes { stream.write($0) }
        localRoute = nil
        if server.config.logProbes || route == .queueFull { recordExchange(status: status, failed: false) }
        timeouts.exchangeEnded(now: now)
        if !keepAlive { closeGracefully() }
    }

    static let queueFullBody: [UInt8] = Array("too many requests waiting for the runtime\n".utf8)
    static let retryAfter: [UInt8] = Array("Retry-After: 1\r\n".utf8)

    /// Answers with an error the proxy made; the body is one line of text.
    func respondWithError(status: Int, reason: StaticString, detail: String, keepClientOpen: Bool, timedOut: Bool = false,
                          retryAfter: Bool = false) {
        // Not kept open when the client has already said it is done (a
        // half-close): nothing would read it again until the idle timeout.
        let keepAlive = keepClientOpen && exchange.clientKeepAlive(draining: server.isDraining) && mode == .http
            && !closeAfterResponse && !clientEnded
        var body = Array(detail.utf8)
        body.append(0x0A)
        var extra = exchangeActive ? requestIDField : []
        if retryAfter { extra.append(contentsOf: Self.retryAfter) }
        HeadWriter.writeLocalResponse(status: status, reason: reason, body: body[...], includeBody: exchange.method != .head,
                                      keepAlive: keepAlive, clientIsHTTP10: exchange.clientIsHTTP10,
                                      extraFields: extra, into: responseHead)
        responseHead.withBytes { stream.write($0) }
        exchange.responseStarted = true
        recordExchange(status: status, failed: true, timedOut: timedOut)
        if let upstream {
            upstream.close()
            self.upstream = nil
        }
        timeouts.exchangeEnded(now: now)
        if keepAlive { resumeAfterExchange() } else { closeGracefully() }
    }

    /// The request could not be parsed: 400, 414 or 431, and the connection
    /// closes (after a malformed message the next one cannot be found).
    func requestDidFail(_ error: ParseError) {
        failureReason = error.reason
        if exchange.responseStarted {
            abort()
            return
        }
        let reason: StaticString = switch error.statusCode {
        case 414: "URI Too Long"
        case 431: "Request Header Fields Too Large"
        case 501: "Not Implemented"
        case 505: "HTTP Version Not Supported"
        default: "Bad Request"
        }
        if parser.isReadingHead || upstream == nil { exchangeStart = server.loop.nowNanoseconds }
        respondWithError(status: error.statusCode, reason: reason, detail: error.reason, keepClientOpen: false)
    }

    func didTimeOut(_ kind: TimeoutKind) {
        switch kind {
        case .clientIdle, .tunnelIdle:
            closeNow()
        case .linger:
            // Still writing a response the client is reading: wait on.
            let queued = stream.queuedByteCount
            if queued > 0 && queued != lingerQueued {
                lingerQueued = queued
                timeouts.lingerStarted(now: now)
            } else {
                closeNow()
            }
        case .headerRead:
            failureReason = "request head not received within the header timeout"
            exchange = ExchangeState()
            exchangeStart = server.loop.nowNanoseconds
            respondWithError(status: 408, reason: "Request Timeout", detail: "Request Timeout", keepClientOpen: false)
        case .queueWait:
            server.admission.remove(self)
            parkedInQueue = false
            let ready = server.admission.runtimeReady
            failureReason = ready ? "waited too long for a free slot" : "runtime not ready in time"
            respondWithError(status: 503, reason: "Service Unavailable", detail: failureReason ?? "", keepClientOpen: false,
                             retryAfter: true)
        case .upstreamConnect, .request:
            failureReason = kind == .request ? "request timeout" : "upstream connect timeout"
            let timedOut = kind == .request
            switch exchange.recovery(after: kind) {
            case .respond(let status, let keepClientOpen):
                if timedOut {
                    // Kubeless clients expect exactly this status and body (with
                    // the newline Go's http.Error adds).
                    respondWithError(status: 408, reason: "Request Timeout", detail: "Timeout exceeded", keepClientOpen: false,
                                     timedOut: true)
                } else {
                    respondWithError(status: status, reason: "Gateway Timeout", detail: "upstream connect timeout",
                                     keepClientOpen: keepClientOpen)
                }
            case .abortClient, .retryOnFreshConnection, .retryAfterDelay:
                recordExchange(status: exchange.statusCode, failed: true, timedOut: timedOut)
                abort()
            }
            if timedOut { server.requestDidTimeOut() }
        }
    }

    /// Logs the exchange, and counts it if it went to the upstream; once.
    func recordExchange(status: Int, failed: Bool, timedOut: Bool = false) {
        let duration = server.loop.nowNanoseconds &- exchangeStart
        if exchangeActive {
            exchangeActive = false
            refusalRetryAt = nil
            if admitted {
                admitted = false
                server.releaseAdmission()
            }
            server.metrics.exchangeEnded(method: exchange.method, status: status, failed: failed, timedOut: timedOut,
                                         durationNanoseconds: duration, requestBytes: requestBodyBytes,
                                         responseBytes: responseBodyBytes)
            server.exchangesInFlightChanged()
        }
        parser.makeIncompleteHeadReadable()
        server.accessLog.write(AccessRecord(remote: remoteDescription, head: parser.head, status: status,
                                            durationNanoseconds: duration, firstByteNanoseconds: firstByteNanoseconds,
                                            requestBytes: requestBodyBytes, responseBytes: responseBodyBytes,
                                            requestID: requestID[...], failure: failureReason))
    }

    /// Ends the connection politely: send what is queued, then FIN, and keep
    /// reading (and dropping) until the client closes or the linger timeout,
    /// so a client still sending is not answered with a reset that could
    /// destroy the response it has not read yet.
    func closeGracefully() {
        guard mode != .closing, mode != .closed else { return }
        if let upstream {
            upstream.close()
            self.upstream = nil
        }
        mode = .closing
        pendingInput.removeAll()
        timeouts.lingerStarted(now: now)
        stream.shutdownAfterWrites()
        updateClientReading()
        rearmTimer()
    }

    /// Something failed mid-exchange: drop both connections at once.
    func abort() {
        if let upstream {
            upstream.close()
            self.upstream = nil
        }
        closeNow()
    }

    /// Closes the connection now. `flushingQueuedOutput`: what is already
    /// queued for the client (a response finished in this loop turn) is
    /// still written first; otherwise it is dropped.
    func closeNow(flushingQueuedOutput: Bool = false) {
        guard mode != .closed else { return }
        if parkedInQueue {
            parkedInQueue = false
            server.admission.remove(self)
        }
        if exchangeActive {
            // The client went away (or the proxy is closing it) mid-exchange:
            // logged as 499, nginx's "client closed request".
            if failureReason == nil { failureReason = "client closed connection" }
            let status = exchange.responseStarted ? exchange.statusCode : 499
            recordExchange(status: status, failed: exchange.responseStarted && server.failureStatuses.contains(status))
        }
        mode = .closed
        if let upstream {
            upstream.close()
            self.upstream = nil
        }
        parser.delegate = nil
        timer.close()
        if flushingQueuedOutput { stream.closeAfterWrites() } else { stream.close() }
        server.connectionDidClose(self)
    }
}

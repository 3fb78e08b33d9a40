import ProxyHTTP
import ProxyUV

/// The upstream side of an exchange: connecting, relaying the response,
/// failures, retries and tunnels.
extension ClientConnection {
    /// Sends the request head on an idle pooled connection, or a new one.
    func attachUpstream(retrying: Bool) {
        let connection: UpstreamConnection
        if !retrying, let idle = server.pool.takeIdle() {
            connection = idle
            exchange.upstreamWasReused = true
        } else {
            connection = server.pool.open(delegate: self)
            exchange.upstreamWasReused = false
            timeouts.connectStarted(now: now)
        }
        upstream = connection
        connection.stream.delegate = self
        connection.parser.delegate = self
        replayBody.removeAll(keepingCapacity: true)
        exchange.replayable = true
        requestHead.withBytes { connection.stream.write($0) }
        if connection.stream.isConnected { connection.stream.startReading() }
        // A retry replaces a connection whose drain the client was waiting for.
        if readingHeldByBackpressure { connection.stream.notifyWhenDrained() }
    }

    func upstreamDidRead(_ bytes: RawSpan) {
        guard let upstream else { return }
        if mode == .tunnel {
            timeouts.tunnelActivity(now: now)
            forward(bytes, to: stream)
            return
        }
        exchange.responseBytesReceived = true
        switch upstream.parser.execute(bytes) {
        case .consumedAll:
            // More of the response is due: ask for it now (see acknowledgeNow).
            upstream.stream.acknowledgeNow()
            server.responseContinues()
        case .paused(let consumed):
            finishExchange(extraBytesAfterResponse: consumed < bytes.byteCount)
        case .upgraded(let consumed):
            // A switch only counts if the client asked for one (and got 101).
            if exchange.isUpgrade && exchange.statusCode == 101 {
                startTunnel(leftover: bytes, from: consumed)
            } else {
                upstreamFailed(.malformed(exchange.upgradeRefusal ?? "switching protocols that were not asked for"))
            }
        case .failed(let error):
            upstreamFailed(.malformed(error.reason))
        }
    }

    func upstreamDidEnd() {
        guard let upstream else { return }
        if mode == .tunnel {
            upstreamEnded = true
            stream.shutdownAfterWrites()
            if clientEnded { closeNow() }
            return
        }
        if exchange.responseBytesReceived, case .paused = upstream.parser.finish() {
            // A response delimited by the end of the connection is complete.
            finishExchange(extraBytesAfterResponse: true)
            return
        }
        upstreamFailed(.closed("EOF"))
    }

    // MARK: Response parser events

    func upstreamDidReceiveHead(_ parser: HTTPParser) -> BodyExpectation {
        let head = parser.head
        if head.statusCode < 200 {
            if head.statusCode == 101 && exchange.isUpgrade {
                // The request's head is still the parser's: it stopped at the switch.
                if let refusal = UpgradeCheck.refusal(request: self.parser.head, response: head) {
                    exchange.upgradeRefusal = refusal
                    return .asFramed
                }
                HeadWriter.writeResponse(head, framing: .none, keepAlive: true, clientIsHTTP10: false, into: responseHead)
                responseHead.withBytes { stream.write($0) }
                exchange.responseStarted = true
                exchange.statusCode = 101
            } else if !exchange.clientIsHTTP10 && head.statusCode != 101 {
                // 100 Continue, 103 Early Hints: relayed as they come.
                HeadWriter.writeResponse(head, framing: .none, keepAlive: true, clientIsHTTP10: false, into: responseHead)
                responseHead.withBytes { stream.write($0) }
            }
            return .asFramed
        }
        exchange.statusCode = head.statusCode
        exchange.responseFraming = BodyFraming.forResponse(head, to: exchange.method, clientIsHTTP10: exchange.clientIsHTTP10)
        let keepAlive = !closeAfterResponse && exchange.clientKeepAlive(draining: server.isDraining)
        closeAfterResponse = !keepAlive
        let firstByte = server.loop.nowNanoseconds &- exchangeStart
        firstByteNanoseconds = firstByte
        server.metrics.recordFirstByte(method: exchange.method, nanoseconds: firstByte)
        HeadWriter.writeResponse(head, framing: exchange.responseFraming, keepAlive: keepAlive, clientIsHTTP10: exchange.clientIsHTTP10,
                                 extraFields: head.contains(.requestID) ? [] : requestIDField, into: responseHead)
        responseHead.withBytes { stream.write($0) }
        if exchange.method != .head, exchange.responseFraming == .contentLength, (head.contentLength ?? 0) > 0 {
            // Many runtimes write the head, then the body: the head waits for
            // the body's first bytes, so the client gets one write, not two.
            stream.holdStagedUntilNextWrite()
        }
        exchange.responseStarted = true
        return exchange.method == .head ? .none : .asFramed
    }

    func upstreamDidReceiveBody(_ bytes: RawSpan) {
        responseBodyBytes += bytes.byteCount
        if exchange.responseFraming == .chunked {
            ChunkedEncoding.chunkHeader(size: bytes.byteCount, into: &chunkHeader)
            stream.write(chunkHeader)
            stream.write(bytes)
            stream.write(ChunkedEncoding.chunkEnd)
            applyBackpressure(writingTo: stream)
        } else {
            forward(bytes, to: stream)
        }
    }

    func upstreamDidCompleteMessage() -> Bool {
        guard let upstream else { return true }
        let status = upstream.parser.head.statusCode
        // Interim responses (1xx) are followed by the real one; 101 ends in a switch.
        if status < 200 { return false }
        exchange.responseComplete = true
        return true
    }

    /// The response is complete: return the upstream connection to the pool
    /// if it can serve again, log, and go on with the client.
    func finishExchange(extraBytesAfterResponse: Bool) {
        guard let upstream else { return }
        self.upstream = nil
        if exchange.responseFraming == .chunked { stream.write(ChunkedEncoding.lastChunk) }
        let reusable = exchange.upstreamReusable(responseKeepAlive: upstream.parser.head.keepAlive,
                                                 extraBytesAfterResponse: extraBytesAfterResponse)
        let keepClient = !closeAfterResponse && exchange.clientKeepAlive(draining: server.isDraining)
        server.health.runtimeAnswered()
        // Back to the pool first: recording releases an admission slot, and
        // the request let through must find this connection idle (a
        // single-threaded runtime serves no other until this one closes).
        if reusable { server.pool.putBack(upstream) } else { upstream.close() }
        recordExchange(status: exchange.statusCode, failed: server.failureStatuses.contains(exchange.statusCode))
        timeouts.exchangeEnded(now: now)
        if keepClient {
            resumeAfterExchange()
        } else {
            closeGracefully()
        }
    }

    /// The upstream connection failed: retry, answer with an error, or cut
    /// the client off if the response had already begun.
    func upstreamFailed(_ failure: UpstreamFailure) {
        guard let upstream else { return }
        upstream.close()
        self.upstream = nil
        timeouts.connectFinished()
        switch exchange.recovery(after: failure, runtimeMayReturn: runtimeMayReturn(after: failure)) {
        case .retryAfterDelay:
            // The runtime is down (killed, restarting) and the supervisor may
            // not have seen it yet: nothing was sent, so wait and try again
            // rather than fail a request the next runtime can serve.
            let timer = refusalRetryTimer ?? {
                let timer = Timer(loop: server.loop)
                timer.delegate = self
                refusalRetryTimer = timer
                return timer
            }()
            timer.start(milliseconds: Self.refusalRetryMilliseconds)
            // The rest of the body waits in the client's socket meanwhile;
            // the retry's drain notice resumes reading.
            readingHeldByBackpressure = true
            updateClientReading()
        case .retryOnFreshConnection:
            exchange.retried = true
            server.metrics.upstreamRetries += 1
            let replay = replayBody
            attachUpstream(retrying: true)
            self.upstream?.stream.write(replay)
        case .respond(let status, let keepClientOpen):
            failureReason = failure.reason
            respondWithError(status: status, reason: status == 504 ? "Gateway Timeout" : "Bad Gateway",
                             detail: failure.reason, keepClientOpen: keepClientOpen)
        case .abortClient:
            failureReason = failure.reason
            recordExchange(status: exchange.statusCode, failed: true)
            abort()
        }
    }

    static let refusalRetryMilliseconds: UInt64 = 50

    /// A supervised runtime refused: it may be restarting, for up to the start timeout.
    private func runtimeMayReturn(after failure: UpstreamFailure) -> Bool {
        guard case .refused = failure, server.supervisor != nil, !server.isDraining else { return false }
        let since = refusedSince ?? now
        refusedSince = since
        return now - since < server.config.startTimeoutMilliseconds
    }

    func retryAfterRefusal() {
        guard mode == .http, exchangeActive, upstream == nil else { return }
        let replay = replayBody
        attachUpstream(retrying: true)
        upstream?.stream.write(replay)
        replayBody = replay
        rearmTimer()
    }

    // MARK: Tunnels

    /// The upstream agreed to switch protocols: from here on bytes flow both
    /// ways untouched until either side closes or the tunnel idles out.
    func startTunnel(leftover: RawSpan, from offset: Int) {
        guard let upstream else { return }
        mode = .tunnel
        awaitingUpgrade = false
        recordExchange(status: 101, failed: false)
        timeouts.tunnelActivity(now: now)
        if offset < leftover.byteCount {
            var early: [UInt8] = []
            early.append(bytesOf: leftover, from: offset)
            stream.write(early)
        }
        if !pendingInput.isEmpty {
            upstream.stream.write(pendingInput)
            pendingInput.removeAll()
        }
        updateClientReading()
    }
}

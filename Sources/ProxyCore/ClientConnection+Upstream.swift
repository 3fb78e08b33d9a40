import ProxyHTTP
import ProxyUV

/// The upstream side of an exchange, as its `UpstreamClient` reports it:
/// connecting, relaying the response, failures, retries and tunnels.
extension ClientConnection {
    /// Sends the request head on an idle pooled client, or a new one.
    func attachUpstream(retrying: Bool) {
        let (client, reused) = server.pool.lend(to: self, reuse: !retrying)
        if !reused { timeouts.connectStarted(now: now) }
        exchange.upstreamWasReused = reused
        exchange.replayable = true
        upstream = client
        client.beginRequest(head: requestHead, reused: reused)
        // A retry replaces a connection whose drain the client was waiting for.
        if readingHeldByBackpressure { client.notifyWhenDrained() }
    }

    func upstreamClientDidConnect(_ client: UpstreamClient) {
        timeouts.connectFinished()
        rearmTimer()
    }

    func upstreamClientExpectsMore(_ client: UpstreamClient) {
        server.responseContinues()
        rearmTimer()
    }

    func upstreamClient(_ client: UpstreamClient, didFinishResponse extraBytes: Bool) {
        exchange.responseComplete = true
        finishExchange(extraBytesAfterResponse: extraBytes)
        rearmTimer()
    }

    func upstreamClient(_ client: UpstreamClient, didSwitchProtocols leftover: RawSpan, from offset: Int) {
        // A switch only counts if the client asked for one and it passed UpgradeCheck (see the head).
        if exchange.isUpgrade && exchange.statusCode == 101 {
            startTunnel(leftover: leftover, from: offset)
        } else {
            upstreamFailed(.malformed(exchange.upgradeRefusal ?? "switching protocols that were not asked for"))
        }
        rearmTimer()
    }

    func upstreamClient(_ client: UpstreamClient, didFail failure: UpstreamFailure) {
        if failure.isConnectFailure {
            timeouts.connectFinished()
            server.metrics.upstreamConnectErrors += 1
            server.health.runtimeUnreachable(failure.reason)
        }
        upstreamFailed(failure)
        rearmTimer()
    }

    /// The upstream took what was queued for it: the client is read again.
    func upstreamClientDidDrain(_ client: UpstreamClient) {
        readingHeldByBackpressure = false
        updateClientReading()
    }

    // MARK: The response

    func upstreamClient(_ client: UpstreamClient, didReceiveHead head: MessageHead) -> BodyExpectation {
        if head.statusCode < 200 {
            if head.statusCode == 101 && exchange.isUpgrade {
                // The request's head is still the parser's: it stopped at the switch.
                if let refusal = UpgradeCheck.refusal(request: parser.head, response: head) {
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

    func upstreamClient(_ client: UpstreamClient, didReceiveBody bytes: RawSpan) {
        responseBodyBytes += bytes.byteCount
        if exchange.responseFraming == .chunked {
            ChunkedEncoding.chunkHeader(size: bytes.byteCount, into: &chunkHeader)
            stream.write(chunkHeader)
            stream.write(bytes)
            stream.write(ChunkedEncoding.chunkEnd)
            holdUpstreamWhileClientIsFull()
        } else {
            forwardToClient(bytes)
        }
    }

    /// The response is complete: return the upstream client to the pool if
    /// it can serve again, log, and go on with the client.
    func finishExchange(extraBytesAfterResponse: Bool) {
        guard let upstream else { return }
        self.upstream = nil
        if exchange.responseFraming == .chunked { stream.write(ChunkedEncoding.lastChunk) }
        let reusable = exchange.upstreamReusable(responseKeepAlive: upstream.responseHead.keepAlive,
                                                 extraBytesAfterResponse: extraBytesAfterResponse)
        let keepClient = !closeAfterResponse && exchange.clientKeepAlive(draining: server.isDraining)
        server.health.runtimeAnswered()
        // Back to the pool first: recording releases an admission slot, and
        // the request let through must find this connection idle (a
        // single-threaded runtime serves no other until this one closes).
        if reusable { server.pool.takeBack(upstream) } else { upstream.close() }
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
        // What the failed client sent and kept goes to the next one, if any.
        pendingReplay = upstream.replay
        exchange.replayable = upstream.replayable
        if upstream.receivedResponseBytes { exchange.responseBytesReceived = true }
        upstream.close()
        self.upstream = nil
        timeouts.connectFinished()
        switch exchange.recovery(after: failure, runtimeMayReturn: runtimeMayReturn(after: failure)) {
        case .retryAfterDelay:
            // The runtime is down (killed, restarting) and the supervisor may
            // not have seen it yet: nothing was sent, so wait and try again
            // rather than fail a request the next runtime can serve.
            refusalRetryAt = now + Self.refusalRetryMilliseconds
            // The rest of the body waits in the client's socket meanwhile;
            // the retry's drain notice resumes reading.
            readingHeldByBackpressure = true
            updateClientReading()
        case .retryOnFreshConnection:
            exchange.retried = true
            server.metrics.upstreamRetries += 1
            attachUpstream(retrying: true)
            self.upstream?.resend(pendingReplay)
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
        attachUpstream(retrying: true)
        upstream?.resend(pendingReplay)
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
            upstream.write(pendingInput)
            pendingInput.removeAll()
        }
        updateClientReading()
    }

    func upstreamClient(_ client: UpstreamClient, didReceiveTunnelBytes bytes: RawSpan) {
        timeouts.tunnelActivity(now: now)
        forwardToClient(bytes)
        rearmTimer()
    }

    func upstreamClientDidEndTunnel(_ client: UpstreamClient) {
        upstreamEnded = true
        stream.shutdownAfterWrites()
        if clientEnded { closeNow() }
        rearmTimer()
    }
}

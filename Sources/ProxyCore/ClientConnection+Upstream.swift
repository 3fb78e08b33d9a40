import ProxyHTTP
import ProxySystem

/// The upstream side of an exchange, as its `UpstreamClient` reports it:
/// connecting, relaying the response, failures, retries and tunnels.
extension ClientConnection {
    /// Sends the request head on an idle pooled client, or a new one.
    func attachUpstream(retrying: Bool) {
        let (client, reused) = server.pool.lend(to: self, reuse: !retrying)
        let reportDrain = machine.upstreamAttached(reused: reused, now: now)
        upstream = client
        client.beginRequest(head: requestHead, reused: reused)
        // A retry replaces a connection whose drain the client was waiting for.
        if reportDrain { client.notifyWhenDrained() }
    }

    /// Attaches a fresh client and sends it what the failed one had kept.
    private func retryOnFreshConnection() {
        attachUpstream(retrying: true)
        upstream?.resend(machine.takeReplay())
    }

    func upstreamClientDidConnect(_ client: UpstreamClient) {
        machine.upstreamConnected()
        rearmTimer()
    }

    func upstreamClientExpectsMore(_ client: UpstreamClient) {
        server.responseContinues()
        rearmTimer()
    }

    func upstreamClient(_ client: UpstreamClient, didFinishResponse extraBytes: Bool) {
        finishExchange(extraBytesAfterResponse: extraBytes)
        rearmTimer()
    }

    func upstreamClient(_ client: UpstreamClient, didSwitchProtocols leftover: RawSpan, from offset: Int) {
        // A switch only counts if the client asked for one and it passed UpgradeCheck (see the head).
        if machine.upstreamSwitched(now: now) {
            startTunnel(leftover: leftover, from: offset)
        } else {
            upstreamFailed(machine.switchRefusal)
        }
        rearmTimer()
    }

    func upstreamClient(_ client: UpstreamClient, didFail failure: UpstreamFailure) {
        if failure.isConnectFailure {
            server.metrics.upstreamConnectErrors += 1
            server.health.runtimeUnreachable(failure.reason)
        }
        upstreamFailed(failure)
        rearmTimer()
    }

    /// The upstream took what was queued for it: the client is read again.
    func upstreamClientDidDrain(_ client: UpstreamClient) {
        machine.upstreamDrained()
        updateClientReading()
    }

    // MARK: The response

    func upstreamClient(_ client: UpstreamClient, didReceiveHead head: MessageHead) -> BodyExpectation {
        let status = head.statusCode
        // The request's head is still the parser's: it stopped at the switch.
        let refusal = status == 101 && machine.exchange.isUpgrade ? UpgradeCheck.refusal(request: parser.head, response: head) : nil
        let framing = status < 200 ? BodyFraming.none
            : BodyFraming.forResponse(head, to: machine.exchange.method, clientIsHTTP10: machine.exchange.clientIsHTTP10)
        let facts = ConnectionStateMachine.ResponseFacts(statusCode: status, framing: framing, hasLength: (head.contentLength ?? 0) > 0,
                                                         upgradeRefusal: refusal)
        switch machine.responseHeadArrived(facts, draining: server.isDraining, now: now, nowNanoseconds: loop.nowNanoseconds) {
        case .ignore:
            return .asFramed
        case .relayInterim, .relaySwitch:
            HeadWriter.writeResponse(head, framing: .none, keepAlive: true, clientIsHTTP10: false, into: responseHead)
            responseHead.withBytes { stream.write($0) }
            return .asFramed
        case .relayFinal(let keepAlive, let holdForBody, let expectBody):
            server.metrics.recordFirstByte(method: machine.exchange.method, nanoseconds: machine.record.firstByteNanoseconds ?? 0)
            HeadWriter.writeResponse(head, framing: framing, keepAlive: keepAlive, clientIsHTTP10: machine.exchange.clientIsHTTP10,
                                     extraFields: head.contains(.requestID) ? [] : requestID.field,
                                     moreFields: trace.returnsTrace ? trace.responseField : [], into: responseHead)
            responseHead.withBytes { stream.write($0) }
            // Many runtimes write the head, then the body: the head waits for
            // the body's first bytes, so the client gets one write, not two.
            if holdForBody { stream.holdStagedUntilNextWrite() }
            return expectBody ? .asFramed : .none
        }
    }

    func upstreamClient(_ client: UpstreamClient, didReceiveBody bytes: RawSpan) {
        if machine.responseBodyArrived(byteCount: bytes.byteCount, now: now) {
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
        let completion = machine.responseFinished(upstreamKeepAlive: upstream.responseHead.keepAlive,
                                                  extraBytes: extraBytesAfterResponse, draining: server.isDraining)
        if completion.lastChunk { stream.write(ChunkedEncoding.lastChunk) }
        server.health.runtimeAnswered()
        // Back to the pool first: recording releases an admission slot, and
        // the request let through must find this connection idle (a
        // single-threaded runtime serves no other until this one closes).
        if completion.reuseUpstream { server.pool.takeBack(upstream) } else { upstream.close() }
        let status = machine.exchange.statusCode
        recordExchange(status: status, failed: server.failureStatuses.contains(status))
        machine.exchangeEnded(now: now)
        if completion.keepClient {
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
        let failed = ConnectionStateMachine.FailedClient(replay: upstream.replay, replayable: upstream.replayable,
                                                         receivedResponseBytes: upstream.receivedResponseBytes)
        upstream.close()
        self.upstream = nil
        let runtime = ConnectionStateMachine.RuntimeFacts(supervised: server.supervisor != nil, draining: server.isDraining,
                                                          startTimeout: server.config.startTimeoutMilliseconds)
        switch machine.upstreamFailed(failure, client: failed, runtime: runtime, now: now) {
        case .waitToRetry:
            updateClientReading()
        case .retryNow:
            server.metrics.upstreamRetries += 1
            retryOnFreshConnection()
        case .respond(let status, let keepClientOpen):
            respondWithError(status: status, detail: failure.reason, keepClientOpen: keepClientOpen)
        case .abort:
            recordExchange(status: machine.exchange.statusCode, failed: true)
            abort()
        }
    }

    /// The wait for a refusing runtime is over: try it again.
    func retryAfterRefusal() {
        guard upstream == nil else { return }
        retryOnFreshConnection()
    }

    // MARK: Tunnels

    /// The upstream agreed to switch protocols: from here on bytes flow both
    /// ways untouched until either side closes or the tunnel idles out.
    func startTunnel(leftover: RawSpan, from offset: Int) {
        guard let upstream else { return }
        recordExchange(status: 101, failed: false)
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
        machine.tunnelBytesFromUpstream(now: now)
        forwardToClient(bytes)
        rearmTimer()
    }

    func upstreamClientDidEndTunnel(_ client: UpstreamClient) {
        let closeNow = machine.upstreamDidEndTunnel()
        stream.shutdownAfterWrites()
        if closeNow { self.closeNow() }
        rearmTimer()
    }
}

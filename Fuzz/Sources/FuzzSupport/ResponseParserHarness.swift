import ProxyHTTP

/// The upstream side of an exchange, as `ClientConnection+Upstream` drives
/// its response parser: one input is a byte stream from the runtime, cut into
/// reads in several ways; each way must give the same events as the whole
/// stream parsed without pauses. After each final response the parser
/// resumes with the bytes after it (the next response, as on a kept-alive
/// connection); at the end the runtime closes (`finish()`).
///
/// Input: byte 0 is options, the rest is the stream.
///   bits 0-2  the fixed read size of one split (`Split.sizes`)
///   bit 3     the request was HEAD (else GET)
///   bit 4     the client speaks HTTP/1.0
///   bit 5     the request asked to upgrade
///   bit 6     the client did not ask to keep the connection alive
///   bit 7     small head limits
///
/// Checked, besides no trap anywhere:
/// - consumed counts lie within the bytes given;
/// - every head accessor reads in range, and no byte llhttp let through
///   would corrupt the head written to the client (`HeadSummary`);
/// - what the client gets (interim heads, the final head written by
///   `HeadWriter.writeResponse`, the body framed as the proxy frames it)
///   parses again, as a client would, to the same status, reason and body,
///   to one final response ending exactly where the proxy's bytes end (or at
///   the close, when framed until close), with the framing and keep-alive the
///   proxy decided: the client cannot be desynchronised.
public enum ResponseParserHarness {
    public static func run(_ data: UnsafeRawBufferPointer) {
        guard let options = data.first else { return }
        let stream = Array(data.dropFirst())
        checkSplits(options: options, stream: stream) { ResponseDriver(options: options, proxyLike: $0) }
    }
}

/// When `proxyLike`, pauses after each final response and resumes with the
/// bytes after it, as `ClientConnection+Upstream` does.
final class ResponseDriver: ParserDriver, HTTPParserDelegate {
    let method: HTTPMethod
    let clientIsHTTP10: Bool
    let isUpgrade: Bool
    let clientWantsKeepAlive: Bool

    private var paused = false
    /// The last bytes parsed ended a final response, and none came after.
    private var pausedAtEnd = false

    // The current exchange, as the client gets it.
    private var toClient: [UInt8] = []
    private var interimSent = 0
    private var final: HeadSummary?
    private var framing: BodyFraming = .none
    private var keepAlive = false
    private var body: [UInt8] = []
    private var switched = false

    init(options: UInt8, proxyLike: Bool) {
        method = options & 0x08 != 0 ? .head : .get
        clientIsHTTP10 = options & 0x10 != 0
        isUpgrade = options & 0x20 != 0
        clientWantsKeepAlive = options & 0x40 == 0
        let limits = options & 0x80 != 0 ? fuzzLimits(options >> 3) : HeadLimits()
        // As UpstreamClient: upstream heads get generous limits.
        super.init(kind: .response, limits: HeadLimits(maxTargetBytes: limits.maxTargetBytes,
                                                        maxHeaderBytes: max(limits.maxHeaderBytes, options & 0x80 != 0 ? 0 : 64 * 1024),
                                                        maxHeaderCount: max(limits.maxHeaderCount, options & 0x80 != 0 ? 0 : 200)),
                   options: options, proxyLike: proxyLike)
        parser.delegate = self
    }

    override var context: String {
        "options \(options) (\(method), http10 \(clientIsHTTP10), upgrade \(isUpgrade), keep-alive \(clientWantsKeepAlive)), proxyLike \(proxyLike), head \(headCount)"
    }

    override func feed(_ chunks: [ArraySlice<UInt8>]) {
        for chunk in chunks {
            if upgradeTail != nil { upgradeTail! += chunk; continue }
            if stopped { return }
            pausedAtEnd = false
            if paused { pending += chunk } else { parse(chunk) }
            while !stopped && paused {
                // The exchange is over; the next response (if any) starts a new one.
                paused = false
                parser.resume()
                let held = pending
                pending.removeAll()
                if !held.isEmpty { parse(held[...]) } else { pausedAtEnd = true }
            }
        }
    }

    override func endOfStream() {
        if proxyLike && pausedAtEnd {
            // The exchange ended and the connection went back to the pool, where a
            // close is seen without the parser: finish() is never called here.
            // (llhttp would say "Invalid EOF state": its finish state is only
            // updated after on_message_complete returns, and that call paused.)
            log.append(.finished("ok"))
            return
        }
        // The runtime closes its connection.
        let outcome = parser.finish()
        switch outcome {
        case .consumedAll: log.append(.finished("ok"))
        case .paused(let consumed):
            // The delegate asked to pause at the message's end (a response until close).
            check(proxyLike && consumed == 0, "finish paused with consumed \(consumed)", context)
            log.append(.finished("ok"))
        case .upgraded: violated("finish upgraded", context)
        case .failed(let error): log.append(.finished("failed \(error.kind)"))
        }
    }

    override func didPause() {
        check(!parser.isInMessage, "paused after the message inside a message", context)
        paused = true
    }

    override func didUpgrade() {
        if proxyLike && switched { verifyClient(upgraded: true) }
    }

    // MARK: Parser events (as ClientConnection+Upstream)

    func parserDidCompleteHead(_ parser: HTTPParser) -> BodyExpectation {
        let summary = headCompleted(kind: .response)
        let head = parser.head
        var written: [UInt8] = []
        if head.statusCode < 200 {
            if head.statusCode == 101 && isUpgrade {
                HeadWriter.writeResponse(head, framing: .none, keepAlive: true, clientIsHTTP10: false, into: &written)
                toClient += written
                switched = true
                final = summary
            } else if !clientIsHTTP10 && head.statusCode != 101 {
                HeadWriter.writeResponse(head, framing: .none, keepAlive: true, clientIsHTTP10: false, into: &written)
                toClient += written
                interimSent += 1
            }
            return .asFramed
        }
        final = summary
        body.removeAll()
        framing = BodyFraming.forResponse(head, to: method, clientIsHTTP10: clientIsHTTP10)
        keepAlive = clientWantsKeepAlive && framing != .untilClose && !isUpgrade
        HeadWriter.writeResponse(head, framing: framing, keepAlive: keepAlive, clientIsHTTP10: clientIsHTTP10,
                                 extraFields: !summary.values(of: "x-request-id").isEmpty ? [] : Array("X-Request-Id: 0123456789abcdef\r\n".utf8),
                                 into: &written)
        toClient += written
        return method == .head ? .none : .asFramed
    }

    func parser(_ parser: HTTPParser, didReceiveBody bytes: RawSpan) {
        let copy = bodyReceived(bytes)
        check(parser.head.statusCode >= 200, "body in an interim response", context)
        check(method != .head, "body in the response to HEAD", context)
        body += copy
        appendBody(bytes, framing: framing, to: &toClient)
    }

    func parserDidCompleteMessage(_ parser: HTTPParser) -> Bool {
        messageCompleted()
        if parser.head.statusCode < 200 { return false }
        if proxyLike {
            if framing == .chunked { toClient += ChunkedEncoding.lastChunk }
            verifyClient(upgraded: false)
            toClient.removeAll()
            interimSent = 0
            final = nil
        }
        return proxyLike
    }

    // MARK: What the client sees

    private func verifyClient(upgraded: Bool) {
        guard let original = final else { violated("no final head", context) }
        let client = HTTPParser(kind: .response, limits: peerLimits)
        let recorder = Recorder(kind: .response)
        recorder.requestWasHead = method == .head
        client.delegate = recorder
        var outcome = client.execute(toClient[...])
        let untilClose = !upgraded && framing == .untilClose
        var closed: ParseOutcome?
        if untilClose, outcome == .consumedAll {
            check(recorder.finalCompletes == 0, "a response framed until close ended early", context)
            closed = client.finish()
            outcome = closed!
        }
        let context = "\(self.context), framing \(framing), keepAlive \(keepAlive), original \(original)\n  sent to client: \(text(toClient))\n  client parse: \(outcome.name), heads \(recorder.heads.count), finals \(recorder.finalCompletes)"
        if case .failed = outcome { violated("what the client gets does not parse", context) }
        if upgraded {
            guard case .upgraded(let consumed) = outcome, consumed == toClient.count else {
                violated("the 101 does not end in a switch where the proxy's bytes end", context)
            }
        } else if untilClose {
            check(outcome == .paused(consumed: 0) && recorder.finalCompletes == 1, "a response framed until close does not end at the close", context)
        } else {
            check(outcome == .paused(consumed: toClient.count) && recorder.finalCompletes == 1,
                  "the client does not see one response ending where the proxy's bytes end", context)
        }
        check(recorder.heads.count == interimSent + 1, "client sees \(recorder.heads.count) heads, proxy sent \(interimSent + 1)", context)
        let seen = recorder.heads[recorder.heads.count - 1]
        check(seen.status == original.status, "status changed for the client", context)
        check(seen.reason == original.reason, "reason changed for the client", context)
        check(recorder.body == body, "body changed for the client (\(recorder.body.count) bytes, upstream sent \(body.count))", context)
        if upgraded { return }
        switch framing {
        case .none: break
        case .contentLength: check(!seen.isChunked && seen.contentLength == original.contentLength, "Content-Length changed for the client", context)
        case .chunked: check(seen.isChunked, "re-chunked body not chunked for the client", context)
        case .untilClose: check(!seen.isChunked && seen.contentLength == nil, "a response until close has other framing for the client", context)
        }
        // HTTPParser reads keepAlive before the delegate answers `.none` for a HEAD
        // response, so one without a length reads as delimited by close (it is
        // not: a client knows HEAD has no body). Not checked there.
        let headWithoutLength = method == .head && !seen.isChunked && seen.contentLength == nil
        if framing != .untilClose && !headWithoutLength {
            check(seen.keepAlive == keepAlive, "client sees keep-alive \(seen.keepAlive), proxy decided \(keepAlive)", context)
        }
    }
}

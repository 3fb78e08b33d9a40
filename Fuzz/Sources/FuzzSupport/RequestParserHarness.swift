import ProxyCore
import ProxyHTTP

/// The client side of a connection, as `ClientConnection` drives its request
/// parser: one input is a byte stream from a client, cut into reads in
/// several ways; each way must give the same events as the whole stream
/// parsed without pauses.
///
/// Input: byte 0 is options, the rest is the stream.
///   bits 0-2  the fixed read size of one split (`Split.sizes`)
///   bit 3     heads at even positions pause before their body (the admission queue)
///   bits 4-5  head limits (`fuzzLimits`)
///   bit 6     heads at odd positions pause before their body
///   bit 7     Host not required (a bare parser; the proxy requires it)
///
/// Checked, besides no trap anywhere (index out of range, overflow, ASan):
/// - consumed counts of `.paused` and `.upgraded` lie within the bytes given;
/// - every head accessor reads in range, and what strict llhttp let through
///   has no byte that would corrupt the head written upstream (`HeadSummary`);
/// - each head, written for the upstream by `HeadWriter.writeRequest` and its
///   body framed as the proxy frames it, parses again (as the runtime would)
///   to the same method, target, upgrade, framing and body, and to exactly one
///   message that ends where the proxy's bytes end: no request smuggled in or
///   cut short;
/// - parser state (`isReadingHead`, `isInMessage`) matches the callbacks.
public enum RequestParserHarness {
    public static func run(_ data: UnsafeRawBufferPointer) {
        guard let options = data.first else { return }
        let stream = Array(data.dropFirst())
        // The proxy's limits require Host (ProxyConfig.headLimits); bit 7 parses as a bare parser does.
        let limits = fuzzLimits(options >> 4, requiresHost: options & 0x80 == 0)
        checkSplits(options: options, stream: stream) { RequestDriver(options: options, limits: limits, proxyLike: $0) }
    }
}

/// When `proxyLike`, pauses as `ClientConnection` does (before bodies when
/// the admission queue holds a request, after each request).
final class RequestDriver: ParserDriver, HTTPParserDelegate {
    private var pausedAfterMessage = false
    private var parked = false
    private var pausingBeforeBody = false

    // The request as the proxy forwards it.
    private var current: HeadSummary?
    private var framing: BodyFraming = .none
    private var forwarded: [UInt8] = []
    private var body: [UInt8] = []
    private var forwarding = false

    init(options: UInt8, limits: HeadLimits, proxyLike: Bool) {
        super.init(kind: .request, limits: limits, options: options, proxyLike: proxyLike)
        parser.delegate = self
    }

    override func feed(_ chunks: [ArraySlice<UInt8>]) {
        for chunk in chunks {
            if upgradeTail != nil { upgradeTail! += chunk; continue }
            if stopped { return }
            if pausedAfterMessage || parked {
                pending += chunk
            } else {
                parse(chunk)
            }
            // The response (or the admission) comes: resume, parse what was held.
            while !stopped && (pausedAfterMessage || parked) {
                let wasParked = parked
                pausedAfterMessage = false
                parked = false
                parser.resume()
                let held = pending
                pending.removeAll()
                // Parsed even when empty after admission: a request without a body completes there.
                if wasParked || !held.isEmpty { parse(held[...]) }
            }
        }
    }

    override func endOfStream() {
        // A request cut short: what went upstream must not hold a complete one.
        if forwarding, let current { verifyUpstream(head: current, complete: false) }
    }

    override func didPause() {
        if pausingBeforeBody {
            pausingBeforeBody = false
            parked = true
            check(parser.isInMessage && !parser.isReadingHead, "paused before the body outside a body", context)
        } else {
            pausedAfterMessage = true
            check(!parser.isInMessage, "paused after the message inside a message", context)
        }
    }

    override func didUpgrade() {
        if forwarding, let current { verifyUpstream(head: current, complete: true, upgraded: true) }
    }

    // MARK: Parser events

    func parserDidCompleteHead(_ parser: HTTPParser) -> BodyExpectation {
        let summary = headCompleted(kind: .request)
        let head = parser.head

        // What the proxy sends upstream for it (CONNECT is answered with 405 instead).
        current = summary
        framing = BodyFraming.forRequest(head)
        body.removeAll()
        forwarding = proxyLike && head.method != .connect
        if forwarding {
            HeadWriter.writeRequest(head, framing: framing, forwarding: HeadWriter.Forwarding(clientAddress: Array("192.0.2.1".utf8)),
                                    extraFields: Array("X-Request-Id: 0123456789abcdef\r\n".utf8), into: &forwarded)
        }
        // Each head pauses before its body or not, by its position (the same in every split).
        let bit: UInt8 = headCount % 2 == 1 ? 0x08 : 0x40
        if proxyLike && options & bit != 0 && head.method != .connect {
            pausingBeforeBody = true
            return .pauseBeforeBody
        }
        return .asFramed
    }

    func parser(_ parser: HTTPParser, didReceiveBody bytes: RawSpan) {
        let copy = bodyReceived(bytes)
        check(current != nil, "body before any head", context)
        body += copy
        if forwarding { appendBody(bytes, framing: framing, to: &forwarded) }
    }

    func parserDidCompleteMessage(_ parser: HTTPParser) -> Bool {
        messageCompleted()
        check(current != nil, "message complete before any head", context)
        guard let current else { return false }
        if forwarding {
            if framing == .chunked { forwarded += ChunkedEncoding.lastChunk }
            // An upgrade's head is checked when the switch happens.
            if !parser.head.isUpgrade { verifyUpstream(head: current, complete: true) }
        }
        if !parser.head.isUpgrade { forwarding = false }
        // As the proxy: an upgrade lets llhttp stop at the switch; CONNECT goes on
        // here (the proxy answers 405 and closes); others pause.
        return proxyLike && !parser.head.isUpgrade && parser.head.method != .connect
    }

    // MARK: What the runtime sees

    /// Parses the bytes sent upstream for one request as the runtime would.
    private func verifyUpstream(head original: HeadSummary, complete: Bool, upgraded: Bool = false) {
        let upstream = HTTPParser(kind: .request, limits: peerLimits)
        let recorder = Recorder(kind: .request)
        upstream.delegate = recorder
        let outcome = upstream.execute(forwarded[...])
        let context = "\(self.context), framing \(framing), original \(original)\n  sent upstream: \(text(forwarded))\n  upstream parse: \(outcome.name), heads \(recorder.heads.count), completes \(recorder.completes)"
        if case .failed = outcome { violated("the head written upstream does not parse", context) }
        guard complete else {
            // Cut short: the runtime must still be waiting for the rest.
            check(recorder.completes == 0, "upstream completed a request the client has not finished", context)
            return
        }
        if upgraded {
            guard case .upgraded(let consumed) = outcome, consumed == forwarded.count else {
                violated("the upgrade request does not end in a switch where the proxy's bytes end", context)
            }
        } else {
            check(outcome == .paused(consumed: forwarded.count), "upstream does not see one request ending where the proxy's bytes end", context)
        }
        check(recorder.heads.count == 1 && recorder.completes == 1, "upstream sees \(recorder.heads.count) heads", context)
        let seen = recorder.heads[0]
        check(seen.method == original.method && seen.methodKind == original.methodKind, "method changed upstream", context)
        check(seen.target == original.target, "target changed upstream", context)
        check(seen.version == "1.1", "upstream request is not HTTP/1.1", context)
        check(seen.isUpgrade == original.isUpgrade, "upgrade changed upstream", context)
        check(seen.values(of: "host").count == 1, "not one Host upstream", context)
        check(recorder.body == body, "body changed upstream (\(recorder.body.count) bytes, client sent \(body.count))", context)
        switch framing {
        case .none: check(!seen.isChunked && (seen.contentLength ?? 0) == 0, "a request without a body has a body upstream", context)
        case .contentLength: check(!seen.isChunked && seen.contentLength == original.contentLength, "Content-Length changed upstream", context)
        case .chunked: check(seen.isChunked, "chunked body not chunked upstream", context)
        case .untilClose: violated("a request framed until close", context)
        }
    }
}

/// Records what a peer's parser sees: heads, body bytes, completions. Pauses after each message.
final class Recorder: HTTPParserDelegate {
    let kind: HTTPParser.Kind
    var heads: [HeadSummary] = []
    var body: [UInt8] = []
    var completes = 0
    var finalCompletes = 0
    /// For a response: the request was HEAD, so no body.
    var requestWasHead = false

    init(kind: HTTPParser.Kind) { self.kind = kind }

    func parserDidCompleteHead(_ parser: HTTPParser) -> BodyExpectation {
        heads.append(HeadSummary(parser.head, kind: kind))
        return kind == .response && requestWasHead && parser.head.statusCode >= 200 ? .none : .asFramed
    }

    func parser(_ parser: HTTPParser, didReceiveBody bytes: RawSpan) {
        body.append(bytesOf: bytes)
    }

    func parserDidCompleteMessage(_ parser: HTTPParser) -> Bool {
        completes += 1
        // A runtime lets an upgrade request end in the switch.
        if kind == .request { return !parser.head.isUpgrade }
        // A client reads interim responses and waits on for the final one.
        if parser.head.statusCode < 200 { return false }
        finalCompletes += 1
        return true
    }
}

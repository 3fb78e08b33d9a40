import ProxyHTTP
import ProxySystem

/// What an upstream client tells its owner: the exchange that borrowed it,
/// the health check, the readiness probe, or the pool while it is idle.
/// Exactly one owner at a time; only the pool (lending and taking back) and
/// the one who opened a client outside the pool set it.
protocol UpstreamClientDelegate: AnyObject {
    /// A new connection was established.
    func upstreamClientDidConnect(_ client: UpstreamClient)
    /// A response head, interim (1xx) or final; `head` is good for this call.
    func upstreamClient(_ client: UpstreamClient, didReceiveHead head: MessageHead) -> BodyExpectation
    /// A run of response body bytes (de-chunked), good for this call.
    func upstreamClient(_ client: UpstreamClient, didReceiveBody bytes: RawSpan)
    /// A read ended with the response still incomplete: more is due.
    func upstreamClientExpectsMore(_ client: UpstreamClient)
    /// The final response is complete. `extraBytes`: bytes came after it
    /// (or it was delimited by the end of the connection), so the
    /// connection cannot serve another request.
    func upstreamClient(_ client: UpstreamClient, didFinishResponse extraBytes: Bool)
    /// The response switched protocols; `leftover[offset...]` is the new
    /// protocol's first bytes. From here on reads arrive raw.
    func upstreamClient(_ client: UpstreamClient, didSwitchProtocols leftover: RawSpan, from offset: Int)
    /// After a switch: raw bytes of the new protocol.
    func upstreamClient(_ client: UpstreamClient, didReceiveTunnelBytes bytes: RawSpan)
    /// After a switch: the upstream shut down its sending side.
    func upstreamClientDidEndTunnel(_ client: UpstreamClient)
    /// The connection failed: connecting, or before the response was complete.
    func upstreamClient(_ client: UpstreamClient, didFail failure: UpstreamFailure)
    /// Queued output fell to the low-water mark after `notifyWhenDrained()`.
    func upstreamClientDidDrain(_ client: UpstreamClient)
}

extension UpstreamClientDelegate {
    func upstreamClientDidConnect(_ client: UpstreamClient) {}
    func upstreamClient(_ client: UpstreamClient, didReceiveBody bytes: RawSpan) {}
    func upstreamClientExpectsMore(_ client: UpstreamClient) {}
    func upstreamClient(_ client: UpstreamClient, didSwitchProtocols leftover: RawSpan, from offset: Int) {}
    func upstreamClient(_ client: UpstreamClient, didReceiveTunnelBytes bytes: RawSpan) {}
    func upstreamClientDidEndTunnel(_ client: UpstreamClient) {}
    func upstreamClientDidDrain(_ client: UpstreamClient) {}
}

/// One HTTP/1.1 connection to the upstream: its stream, its response
/// parser and the replay buffer of what was sent, reporting head, body,
/// completion and a typed failure to one delegate (as h2o's httpclient
/// does). The exchange, the health check and the readiness probe all use
/// it; the pool lends it out and takes it back.
final class UpstreamClient: StreamDelegate, HTTPParserDelegate {
    /// Held strongly (see Stream.delegate); `close()` clears it.
    var delegate: UpstreamClientDelegate?
    private let stream: Stream
    private let parser: HTTPParser
    /// After a 101: reads are the new protocol's bytes, not parsed.
    private var isTunnel = false
    /// Any byte of the current response has arrived.
    private(set) var receivedResponseBytes = false
    /// Closed by its owner, perhaps from inside one of its own callbacks.
    private var isClosed = false

    /// When it entered the idle pool (loop milliseconds).
    var idleSince: UInt64 = 0
    var requestsServed = 0

    /// What was sent since `beginRequest`, while a resend may be needed (the
    /// connection came from the pool and may turn out stale, or it is still
    /// connecting and may be refused), up to `replayLimit`.
    private(set) var replay: [UInt8] = []
    /// Every byte sent since `beginRequest` is in `replay`, or no body byte was sent.
    private(set) var replayable = true
    /// Came from the idle pool: the upstream may have closed it meanwhile.
    private(set) var wasReused = false
    static let replayLimit = 64 * 1024
    /// A replay buffer larger than this is let go when the client goes idle.
    private static let idleReplayCapacity = 4 * 1024

    /// Opens a connection to `target`; `delegate` hears whether it connects.
    init(loop: EventLoop, target: UpstreamTarget, limits: HeadLimits, delegate: UpstreamClientDelegate) {
        // Upstream heads get generous limits: a runtime's cookies or
        // redirects may be long, and a bad upstream still hits a bound (502).
        // A runtime's own X-Runtime-Proxy-Error is dropped (consumed): the
        // header says the proxy made the answer.
        parser = HTTPParser(kind: .response, limits: HeadLimits(maxTargetBytes: limits.maxTargetBytes,
                                                                maxHeaderBytes: max(limits.maxHeaderBytes, 64 * 1024),
                                                                maxHeaderCount: max(limits.maxHeaderCount, 200)),
                            consumedField: ProxyError.consumedName)
        self.delegate = delegate
        switch target {
        case .tcp(let address): stream = Stream.connect(loop: loop, to: address, delegate: nil)
        case .unix(let path): stream = Stream.connect(loop: loop, toPath: path, delegate: nil)
        }
        stream.delegate = self
        parser.delegate = self
    }

    var isConnected: Bool { stream.isConnected }
    var queuedByteCount: Int { stream.queuedByteCount }
    /// The last response head (good until the next response starts).
    var responseHead: MessageHead { parser.head }

    // MARK: Sending

    /// Starts a request: writes its head, and keeps later body bytes for a
    /// resend while one may be needed.
    func beginRequest(head: HeadBuffer, reused: Bool) {
        prepareRequest(reused: reused)
        head.withBytes { stream.write($0) }
        startReading()
    }

    /// A whole request made by the proxy (the health check, the readiness probe).
    func beginRequest(_ request: [UInt8], reused: Bool) {
        prepareRequest(reused: reused)
        stream.write(request)
        startReading()
    }

    private func prepareRequest(reused: Bool) {
        wasReused = reused
        replay.removeAll(keepingCapacity: true)
        replayable = true
        receivedResponseBytes = false
    }

    /// Sends the body bytes another client had sent and kept (a resend on a
    /// fresh connection), and keeps them again.
    func resend(_ bytes: [UInt8]) {
        stream.write(bytes)
        bytes.withRawSpan { keepForReplay($0) }
    }

    /// Sends request bytes (body, chunk framing).
    func send(_ bytes: RawSpan) {
        stream.write(bytes)
        keepForReplay(bytes)
    }

    func send(_ bytes: [UInt8]) {
        stream.write(bytes)
        bytes.withRawSpan { keepForReplay($0) }
    }

    private func keepForReplay(_ bytes: RawSpan) {
        guard wasReused || !stream.isConnected, replayable else { return }
        if replay.count + bytes.byteCount > Self.replayLimit {
            replayable = false
            replay.removeAll(keepingCapacity: true)
        } else {
            replay.append(bytesOf: bytes)
        }
    }

    /// Tunnel bytes, as they are.
    func write(_ bytes: RawSpan) { stream.write(bytes) }
    func write(_ bytes: [UInt8]) { stream.write(bytes) }

    // MARK: Flow

    func startReading() { if stream.isConnected { stream.startReading() } }
    func stopReading() { stream.stopReading() }
    func notifyWhenDrained() { stream.notifyWhenDrained() }
    func shutdownAfterWrites() { stream.shutdownAfterWrites() }

    /// Ready for the idle pool: the parser forgets the response, a large
    /// replay buffer is let go, and reads go on (the pool watches them).
    func resetForIdle(now: UInt64) {
        parser.reset()
        if replay.capacity > Self.idleReplayCapacity { replay = [] }
        receivedResponseBytes = false
        idleSince = now
        requestsServed += 1
        stream.startReading()
    }

    func close() {
        isClosed = true
        parser.delegate = nil
        delegate = nil
        stream.close()
    }

    // MARK: Stream events

    func streamDidConnect(_ stream: Stream) {
        stream.startReading()
        delegate?.upstreamClientDidConnect(self)
    }

    func streamDidFailToConnect(_ stream: Stream, _ error: UVError) {
        // A reset during the handshake is a refusal too: the listening socket
        // closed (a runtime killed) with the connection in its accept queue.
        let refused = error.isConnectionRefused || error.isNoSuchFile || error.isConnectionReset
        delegate?.upstreamClient(self, didFail: refused ? .refused(error.name) : .unreachable(error.name))
    }

    func streamDidRead(_ stream: Stream, _ bytes: RawSpan) {
        if isTunnel {
            delegate?.upstreamClient(self, didReceiveTunnelBytes: bytes)
            return
        }
        receivedResponseBytes = true
        switch parser.execute(bytes) {
        case .consumedAll:
            // The owner may have closed this client from a callback (the
            // probe decides on the head).
            guard !isClosed else { return }
            // More of the response is due: ask for it now (see acknowledgeNow).
            stream.acknowledgeNow()
            delegate?.upstreamClientExpectsMore(self)
        case .paused(let consumed):
            delegate?.upstreamClient(self, didFinishResponse: consumed < bytes.byteCount)
        case .upgraded(let consumed):
            isTunnel = true
            delegate?.upstreamClient(self, didSwitchProtocols: bytes, from: consumed)
        case .failed(let error):
            delegate?.upstreamClient(self, didFail: .malformed(error.reason))
        }
    }

    func streamDidReachEnd(_ stream: Stream) {
        if isTunnel {
            delegate?.upstreamClientDidEndTunnel(self)
            return
        }
        if receivedResponseBytes, case .paused = parser.finish() {
            // A response delimited by the end of the connection is complete.
            delegate?.upstreamClient(self, didFinishResponse: true)
            return
        }
        delegate?.upstreamClient(self, didFail: .closed("EOF"))
    }

    func streamDidFail(_ stream: Stream, _ error: UVError) {
        delegate?.upstreamClient(self, didFail: error.isConnectionReset ? .reset(error.name) : .closed(error.name))
    }

    func streamDidDrain(_ stream: Stream) { delegate?.upstreamClientDidDrain(self) }

    // MARK: Response parser events

    func parserDidCompleteHead(_ parser: HTTPParser) -> BodyExpectation {
        delegate?.upstreamClient(self, didReceiveHead: parser.head) ?? .asFramed
    }

    func parser(_ parser: HTTPParser, didReceiveBody bytes: RawSpan) {
        delegate?.upstreamClient(self, didReceiveBody: bytes)
    }

    /// Interim responses (1xx) are followed by the real one; a final one
    /// pauses the parser, and `execute` reports it complete.
    func parserDidCompleteMessage(_ parser: HTTPParser) -> Bool { parser.head.statusCode >= 200 }
}

extension UpstreamFailure {
    /// The connection could not be opened (nothing reached the upstream).
    var isConnectFailure: Bool {
        switch self {
        case .refused, .unreachable: true
        default: false
        }
    }
}

import ProxyHTTP

/// Why an exchange with the upstream failed.
public enum UpstreamFailure: Sendable, Equatable {
    /// Nothing listens on the upstream address (ECONNREFUSED, ENOENT).
    case refused(String)
    /// Connecting failed otherwise (EHOSTUNREACH, ...).
    case unreachable(String)
    /// The connection closed before the response was complete.
    case closed(String)
    /// The upstream reset the connection (ECONNRESET) before the response
    /// was complete: it closed with bytes unread, or its listening socket
    /// closed with the connection still in the accept queue.
    case reset(String)
    /// The upstream sent bytes that are not a valid HTTP response.
    case malformed(String)

    public var reason: String {
        switch self {
        case .refused(let detail): "upstream refused connection (\(detail))"
        case .unreachable(let detail): "upstream unreachable (\(detail))"
        case .closed(let detail): "upstream closed connection (\(detail))"
        case .reset(let detail): "upstream reset connection (\(detail))"
        case .malformed(let detail): "invalid response from upstream (\(detail))"
        }
    }
}

/// What to do about a failed or timed-out exchange.
public enum ExchangeRecovery: Sendable, Equatable {
    /// Send the request again on a fresh upstream connection.
    case retryOnFreshConnection
    /// Nothing reached the upstream (it refused the connection) and it may
    /// come back (a supervised runtime restarting): try again shortly.
    case retryAfterDelay
    /// Answer the client with this status (nothing of the response was sent yet).
    case respond(status: Int, keepClientOpen: Bool)
    /// The response had started: cut the client connection so it sees the
    /// body is incomplete.
    case abortClient
}

/// One request and its response, as far as decisions go: what has been sent
/// and received, and from that, whether connections may be reused and how a
/// failure is answered. A pure value; the connection feeds it events.
public struct ExchangeState: Sendable {
    public var method: HTTPMethod = .other
    public var clientIsHTTP10 = false
    public var clientWantsKeepAlive = true
    public var isUpgrade = false
    /// The whole request, body included, has been read from the client.
    public var requestComplete = false
    /// Bytes of request body forwarded upstream.
    public var requestBodyBytesSent = 0
    /// The upstream connection came from the idle pool (it may have been closed under us).
    public var upstreamWasReused = false
    /// Every byte sent upstream is still held for a retry.
    public var replayable = true
    public var retried = false
    /// Any byte of the response has arrived from the upstream.
    public var responseBytesReceived = false
    /// The final response head has gone to the client.
    public var responseStarted = false
    public var responseComplete = false
    public var responseFraming: BodyFraming = .none
    public var statusCode = 0
    /// Why the upstream's 101 may not open a tunnel (UpgradeCheck); the switch then fails with 502.
    public var upgradeRefusal: String?

    public init() {}

    /// After a failure of the upstream connection, before or during the response.
    /// `runtimeMayReturn`: the proxy supervises the runtime and the start
    /// timeout has not run out since the first refusal.
    public func recovery(after failure: UpstreamFailure, runtimeMayReturn: Bool = false) -> ExchangeRecovery {
        if responseStarted { return .abortClient }
        switch failure {
        case .closed where upstreamWasReused && canResend, .reset where canResend: return .retryOnFreshConnection
        default: break
        }
        if case .refused = failure, runtimeMayReturn, replayable, !responseBytesReceived { return .retryAfterDelay }
        return .respond(status: 502, keepClientOpen: requestComplete)
    }

    /// Sending the request once more is safe: it was not retried yet,
    /// nothing came back, every byte sent is still at hand, and the method is
    /// idempotent or no body went out. Used once for a pooled connection the
    /// upstream closed while idle (it fails the first request sent on it),
    /// and for a reset (a runtime killed with the connection in its accept
    /// queue resets it: the request never reached the application).
    var canResend: Bool {
        !retried && !responseBytesReceived && replayable && (method.isIdempotent || requestBodyBytesSent == 0)
    }

    /// After the request's own timeout or the connect timeout.
    public func recovery(after timeout: TimeoutKind) -> ExchangeRecovery {
        if responseStarted { return .abortClient }
        switch timeout {
        case .upstreamConnect, .responseStart: return .respond(status: 504, keepClientOpen: requestComplete)
        default: return .respond(status: 408, keepClientOpen: false)
        }
    }

    /// The upstream connection may serve another request.
    public func upstreamReusable(responseKeepAlive: Bool, extraBytesAfterResponse: Bool) -> Bool {
        responseComplete && requestComplete && responseKeepAlive && !extraBytesAfterResponse && !isUpgrade
    }

    /// The client connection may carry another request after this response.
    public func clientKeepAlive(draining: Bool) -> Bool {
        clientWantsKeepAlive && requestComplete && responseFraming != .untilClose && !draining && !isUpgrade
    }
}

import ProxyHTTP
import Testing

@testable import ProxyCore

/// An exchange whose request went out on a pooled connection that then closed
/// before any response byte: the one case eligible for a retry.
private func staleReusedExchange(_ method: HTTPMethod, bodyBytesSent: Int = 0) -> ExchangeState {
    var exchange = ExchangeState()
    exchange.method = method
    exchange.upstreamWasReused = true
    exchange.requestBodyBytesSent = bodyBytesSent
    exchange.requestComplete = true
    return exchange
}

/// A completed, keep-alive exchange with a length-framed response.
private func completedExchange() -> ExchangeState {
    var exchange = ExchangeState()
    exchange.method = .get
    exchange.requestComplete = true
    exchange.responseBytesReceived = true
    exchange.responseStarted = true
    exchange.responseComplete = true
    exchange.responseFraming = .contentLength
    exchange.statusCode = 200
    return exchange
}

private let allFailures: [UpstreamFailure] = [.refused("ECONNREFUSED"), .unreachable("EHOSTUNREACH"), .closed("EOF"), .reset("ECONNRESET"), .malformed("bad status line")]

@Suite struct ExchangeStateTests {
    // Once the response head went to the client, any upstream failure cuts the client.
    @Test(arguments: allFailures)
    func failureAfterResponseStartedAbortsClient(failure: UpstreamFailure) {
        var exchange = staleReusedExchange(.get)
        exchange.responseBytesReceived = true
        exchange.responseStarted = true
        #expect(exchange.recovery(after: failure) == .abortClient)
    }

    // A reused connection closed before any reply is retried for idempotent methods.
    @Test(arguments: [HTTPMethod.get, .head, .put, .delete, .options, .trace])
    func closedReusedConnectionRetriesIdempotentMethods(method: HTTPMethod) {
        let exchange = staleReusedExchange(method, bodyBytesSent: 10)
        #expect(exchange.recovery(after: .closed("EOF")) == .retryOnFreshConnection)
    }

    // A non-idempotent request is retried only if none of its body was sent.
    @Test(arguments: [HTTPMethod.post, .patch, .other])
    func closedReusedConnectionRetriesNonIdempotentOnlyWithoutBody(method: HTTPMethod) {
        #expect(staleReusedExchange(method, bodyBytesSent: 0).recovery(after: .closed("EOF")) == .retryOnFreshConnection)
        #expect(staleReusedExchange(method, bodyBytesSent: 1).recovery(after: .closed("EOF")) == .respond(status: 502, keepClientOpen: true))
    }

    // A refused connection is waited out only when the runtime may come back (supervised, within the start timeout) and every byte sent is at hand, whatever the method.
    @Test(arguments: [HTTPMethod.get, .post])
    func refusedConnectionWaitsForARuntimeThatMayReturn(method: HTTPMethod) {
        var exchange = ExchangeState()
        exchange.method = method
        exchange.requestBodyBytesSent = 100
        #expect(exchange.recovery(after: .refused("ECONNREFUSED"), runtimeMayReturn: true) == .retryAfterDelay)
        #expect(exchange.recovery(after: .refused("ECONNREFUSED")) == .respond(status: 502, keepClientOpen: false))
        #expect(exchange.recovery(after: .unreachable("EHOSTUNREACH"), runtimeMayReturn: true) == .respond(status: 502, keepClientOpen: false))
        exchange.replayable = false
        #expect(exchange.recovery(after: .refused("ECONNREFUSED"), runtimeMayReturn: true) == .respond(status: 502, keepClientOpen: false))
    }

    // An exchange is retried at most once.
    @Test func neverRetriesTwice() {
        var exchange = staleReusedExchange(.get)
        exchange.retried = true
        #expect(exchange.recovery(after: .closed("EOF")) == .respond(status: 502, keepClientOpen: true))
    }

    // A fresh (not pooled) connection that closes is not retried.
    @Test func neverRetriesAFreshConnection() {
        var exchange = staleReusedExchange(.get)
        exchange.upstreamWasReused = false
        #expect(exchange.recovery(after: .closed("EOF")) == .respond(status: 502, keepClientOpen: true))
    }

    // A reset before any response byte, on a fresh connection too, is retried once under the same rules as a stale pooled connection (a runtime killed with the connection in its accept queue resets it unread); a second reset answers 502.
    @Test func resetBeforeAnyResponseByteIsRetriedOnce() {
        var exchange = staleReusedExchange(.get)
        exchange.upstreamWasReused = false
        #expect(exchange.recovery(after: .reset("ECONNRESET")) == .retryOnFreshConnection)
        exchange.retried = true
        #expect(exchange.recovery(after: .reset("ECONNRESET")) == .respond(status: 502, keepClientOpen: true))
        var post = staleReusedExchange(.post, bodyBytesSent: 1)
        post.upstreamWasReused = false
        #expect(post.recovery(after: .reset("ECONNRESET")) == .respond(status: 502, keepClientOpen: true))
        var answered = staleReusedExchange(.get)
        answered.responseBytesReceived = true
        #expect(answered.recovery(after: .reset("ECONNRESET")) == .respond(status: 502, keepClientOpen: true))
    }

    // Once part of the response arrived, a close is answered with 502, not retried.
    @Test func noRetryAfterResponseBytesReceived() {
        var exchange = staleReusedExchange(.get)
        exchange.responseBytesReceived = true
        #expect(exchange.recovery(after: .closed("EOF")) == .respond(status: 502, keepClientOpen: true))
    }

    // A body too large to keep for replay forbids a retry.
    @Test func noRetryWhenNotReplayable() {
        var exchange = staleReusedExchange(.put, bodyBytesSent: 1_000_000)
        exchange.replayable = false
        #expect(exchange.recovery(after: .closed("EOF")) == .respond(status: 502, keepClientOpen: true))
    }

    // Only a close or a reset is retried: refused, unreachable and malformed answer 502 even on a stale reused connection.
    @Test(arguments: [UpstreamFailure.refused("ECONNREFUSED"), .unreachable("EHOSTUNREACH"), .malformed("bad")])
    func otherFailuresAreNotRetried(failure: UpstreamFailure) {
        #expect(staleReusedExchange(.get).recovery(after: failure) == .respond(status: 502, keepClientOpen: true))
    }

    // A refused connect answers 502 and keeps the client open only if its request was read whole.
    @Test(arguments: [true, false])
    func refusedResponds502KeepingClientIfRequestComplete(requestComplete: Bool) {
        var exchange = ExchangeState()
        exchange.method = .post
        exchange.requestComplete = requestComplete
        #expect(exchange.recovery(after: .refused("ECONNREFUSED")) == .respond(status: 502, keepClientOpen: requestComplete))
    }

    // An invalid upstream response answers 502.
    @Test func malformedResponds502() {
        var exchange = ExchangeState()
        exchange.requestComplete = true
        exchange.responseBytesReceived = true
        #expect(exchange.recovery(after: .malformed("bad status line")) == .respond(status: 502, keepClientOpen: true))
    }

    // A connect timeout answers 504, keeping the client open only if its request was read whole.
    @Test(arguments: [true, false])
    func upstreamConnectTimeoutResponds504(requestComplete: Bool) {
        var exchange = ExchangeState()
        exchange.requestComplete = requestComplete
        #expect(exchange.recovery(after: .upstreamConnect) == .respond(status: 504, keepClientOpen: requestComplete))
    }

    // The request timeout answers 408 and always closes the client.
    @Test func requestTimeoutResponds408AndCloses() {
        var exchange = ExchangeState()
        exchange.requestComplete = true
        #expect(exchange.recovery(after: .request) == .respond(status: 408, keepClientOpen: false))
    }

    // A timeout after the response started cuts the client.
    @Test(arguments: [TimeoutKind.request, .upstreamConnect])
    func timeoutAfterResponseStartedAbortsClient(kind: TimeoutKind) {
        var exchange = completedExchange()
        exchange.responseComplete = false
        #expect(exchange.recovery(after: kind) == .abortClient)
    }

    // The upstream connection goes back to the pool only after a complete, keep-alive, clean exchange.
    @Test func upstreamReusableTruthTable() {
        #expect(completedExchange().upstreamReusable(responseKeepAlive: true, extraBytesAfterResponse: false))
        #expect(!completedExchange().upstreamReusable(responseKeepAlive: false, extraBytesAfterResponse: false))
        #expect(!completedExchange().upstreamReusable(responseKeepAlive: true, extraBytesAfterResponse: true))

        var responseIncomplete = completedExchange()
        responseIncomplete.responseComplete = false
        #expect(!responseIncomplete.upstreamReusable(responseKeepAlive: true, extraBytesAfterResponse: false))

        var requestIncomplete = completedExchange()
        requestIncomplete.requestComplete = false
        #expect(!requestIncomplete.upstreamReusable(responseKeepAlive: true, extraBytesAfterResponse: false))

        var upgrade = completedExchange()
        upgrade.isUpgrade = true
        #expect(!upgrade.upstreamReusable(responseKeepAlive: true, extraBytesAfterResponse: false))
    }

    // The client connection stays open only for a complete keep-alive request with a self-delimited response, not while draining.
    @Test func clientKeepAliveTruthTable() {
        #expect(completedExchange().clientKeepAlive(draining: false))
        #expect(!completedExchange().clientKeepAlive(draining: true))

        var clientClose = completedExchange()
        clientClose.clientWantsKeepAlive = false
        #expect(!clientClose.clientKeepAlive(draining: false))

        var requestIncomplete = completedExchange()
        requestIncomplete.requestComplete = false
        #expect(!requestIncomplete.clientKeepAlive(draining: false))

        var untilClose = completedExchange()
        untilClose.responseFraming = .untilClose
        #expect(!untilClose.clientKeepAlive(draining: false))

        var upgrade = completedExchange()
        upgrade.isUpgrade = true
        #expect(!upgrade.clientKeepAlive(draining: false))
    }

    // Chunked and bodiless responses keep the client connection open.
    @Test(arguments: [BodyFraming.none, .contentLength, .chunked])
    func clientKeepAliveWithSelfDelimitedFraming(framing: BodyFraming) {
        var exchange = completedExchange()
        exchange.responseFraming = framing
        #expect(exchange.clientKeepAlive(draining: false))
    }

    // A fresh exchange is replayable, unretried and assumes keep-alive.
    @Test func defaults() {
        let exchange = ExchangeState()
        #expect(exchange.replayable && !exchange.retried && exchange.clientWantsKeepAlive)
        #expect(!exchange.requestComplete && !exchange.responseStarted && !exchange.upstreamWasReused)
        #expect(exchange.requestBodyBytesSent == 0 && exchange.statusCode == 0)
    }
}

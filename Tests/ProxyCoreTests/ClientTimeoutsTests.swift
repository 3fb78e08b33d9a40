import Testing

@testable import ProxyCore

/// Distinct durations so every deadline says which interval produced it.
private let durations = ClientTimeouts.Durations(
    clientIdle: 75_000, headerRead: 15_000, upstreamConnect: 5_000,
    request: 180_000, tunnelIdle: 300_000, linger: 2_000)

/// Checks the earliest deadline and the interval it guards.
private func expectNext(
    _ timeouts: ClientTimeouts, _ deadline: UInt64, _ kind: TimeoutKind,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let next = timeouts.next
    #expect(next.deadline == deadline, sourceLocation: sourceLocation)
    #expect(next.kind == kind, sourceLocation: sourceLocation)
}

/// Checks that nothing has expired a millisecond before `deadline` and that `kind` has at it.
private func expectExpiry(
    _ timeouts: ClientTimeouts, at deadline: UInt64, _ kind: TimeoutKind,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(timeouts.expired(now: deadline - 1) == nil, sourceLocation: sourceLocation)
    #expect(timeouts.expired(now: deadline) == kind, sourceLocation: sourceLocation)
}

/// A connection accepted at 0 whose first request began at 0 and whose head completed at `headAt`.
private func inRequest(headAt: UInt64, requestTimeout: UInt64? = nil) -> ClientTimeouts {
    var timeouts = ClientTimeouts(durations: durations, now: 0)
    timeouts.requestBegan(now: 0)
    timeouts.headCompleted(now: headAt, requestTimeout: requestTimeout)
    return timeouts
}

@Suite struct ClientTimeoutsTests {
    // A new connection waits clientIdle for its first request.
    @Test func idleDeadlineAfterCreation() {
        let timeouts = ClientTimeouts(durations: durations, now: 1_000)
        expectNext(timeouts, 76_000, .clientIdle)
        #expect(timeouts.phase == .idle(since: 1_000))
    }

    // The first byte of a request swaps the idle deadline for the header-read one.
    @Test func requestBeganMovesIdleToHeaderRead() {
        var timeouts = ClientTimeouts(durations: durations, now: 1_000)
        timeouts.requestBegan(now: 3_000)
        expectNext(timeouts, 18_000, .headerRead)
    }

    // More request bytes do not restart the header-read interval.
    @Test func requestBeganWhileReadingHeadDoesNothing() {
        var timeouts = ClientTimeouts(durations: durations, now: 0)
        timeouts.requestBegan(now: 1_000)
        let before = timeouts
        timeouts.requestBegan(now: 9_000)
        #expect(timeouts == before)
        expectNext(timeouts, 16_000, .headerRead)
    }

    // Bytes arriving during an exchange (pipelining) leave the request deadline alone.
    @Test func requestBeganDuringExchangeDoesNothing() {
        var timeouts = inRequest(headAt: 100)
        let before = timeouts
        timeouts.requestBegan(now: 5_000)
        #expect(timeouts == before)
        expectNext(timeouts, 180_100, .request)
    }

    // A complete head starts the request interval from that moment.
    @Test func headCompletedSetsRequestDeadline() {
        let timeouts = inRequest(headAt: 2_000)
        expectNext(timeouts, 182_000, .request)
    }

    // A per-request timeout shorter than the configured one shortens the deadline.
    @Test func shorterPerRequestTimeoutShortensDeadline() {
        let timeouts = inRequest(headAt: 2_000, requestTimeout: 10_000)
        expectNext(timeouts, 12_000, .request)
    }

    // A per-request timeout longer than the configured one never lengthens it.
    @Test func longerPerRequestTimeoutDoesNotLengthenDeadline() {
        let timeouts = inRequest(headAt: 2_000, requestTimeout: 999_000)
        expectNext(timeouts, 182_000, .request)
    }

    // A connect in progress is the next deadline when it ends before the request's.
    @Test func connectStartedMakesUpstreamConnectNext() {
        var timeouts = inRequest(headAt: 1_000)
        timeouts.connectStarted(now: 1_500)
        expectNext(timeouts, 6_500, .upstreamConnect)
        expectExpiry(timeouts, at: 6_500, .upstreamConnect)
    }

    // A connect deadline later than the request deadline does not displace it.
    @Test func connectDeadlineLaterThanRequestDeadlineIsIgnored() {
        var timeouts = inRequest(headAt: 0, requestTimeout: 3_000)
        timeouts.connectStarted(now: 1_000)
        expectNext(timeouts, 3_000, .request)
    }

    // Once connected, the connect deadline no longer applies.
    @Test func connectFinishedRemovesConnectDeadline() {
        var timeouts = inRequest(headAt: 1_000)
        timeouts.connectStarted(now: 1_500)
        timeouts.connectFinished()
        expectNext(timeouts, 181_000, .request)
        #expect(timeouts.expired(now: 6_500) == nil)
    }

    // The end of an exchange starts a fresh idle interval and drops request and connect deadlines.
    @Test func exchangeEndedReturnsToIdleFromThatTime() {
        var timeouts = inRequest(headAt: 0, requestTimeout: 10_000)
        timeouts.connectStarted(now: 100)
        timeouts.exchangeEnded(now: 4_000)
        expectNext(timeouts, 79_000, .clientIdle)
        #expect(timeouts.expired(now: 10_000) == nil)
    }

    // Each byte through a tunnel pushes the tunnel-idle deadline out.
    @Test func tunnelActivityPushesTunnelIdleDeadline() {
        var timeouts = inRequest(headAt: 0, requestTimeout: 10_000)
        timeouts.tunnelActivity(now: 1_000)
        expectNext(timeouts, 301_000, .tunnelIdle)
        timeouts.tunnelActivity(now: 250_000)
        expectNext(timeouts, 550_000, .tunnelIdle)
        expectExpiry(timeouts, at: 550_000, .tunnelIdle)
    }

    // A closing connection waits only the linger interval, whatever was pending.
    @Test func lingerStartedReplacesOtherDeadlines() {
        var timeouts = inRequest(headAt: 0)
        timeouts.connectStarted(now: 0)
        timeouts.lingerStarted(now: 7_000)
        expectNext(timeouts, 9_000, .linger)
        expectExpiry(timeouts, at: 9_000, .linger)
    }

    // expired(now:) is nil one millisecond early and names the interval at its deadline.
    @Test func expiredIsExactAtTheDeadline() {
        var timeouts = ClientTimeouts(durations: durations, now: 500)
        expectExpiry(timeouts, at: 75_500, .clientIdle)
        #expect(timeouts.expired(now: 1_000_000) == .clientIdle)
        timeouts.requestBegan(now: 600)
        expectExpiry(timeouts, at: 15_600, .headerRead)
        timeouts.headCompleted(now: 700)
        expectExpiry(timeouts, at: 180_700, .request)
    }

    // One connection's life: accept, request, connect, response, idle, next request, timeout.
    @Test func wholeConnectionLife() {
        // Accepted at t=10s.
        var timeouts = ClientTimeouts(durations: durations, now: 10_000)
        expectNext(timeouts, 85_000, .clientIdle)

        // First request bytes at 11s, head complete at 11.2s.
        timeouts.requestBegan(now: 11_000)
        expectNext(timeouts, 26_000, .headerRead)
        timeouts.headCompleted(now: 11_200)
        expectNext(timeouts, 191_200, .request)

        // A fresh upstream connection, established 300 ms later.
        timeouts.connectStarted(now: 11_250)
        expectNext(timeouts, 16_250, .upstreamConnect)
        #expect(timeouts.expired(now: 16_249) == nil)
        timeouts.connectFinished()
        expectNext(timeouts, 191_200, .request)

        // The response completes at 12s: the connection idles from then.
        #expect(timeouts.expired(now: 12_000) == nil)
        timeouts.exchangeEnded(now: 12_000)
        expectNext(timeouts, 87_000, .clientIdle)
        #expect(timeouts.expired(now: 86_999) == nil)

        // A second request at 80s whose head never completes.
        timeouts.requestBegan(now: 80_000)
        expectNext(timeouts, 95_000, .headerRead)
        timeouts.requestBegan(now: 90_000)
        #expect(timeouts.expired(now: 94_999) == nil)
        #expect(timeouts.expired(now: 95_000) == .headerRead)

        // The 408 is written; the connection lingers, then gives up.
        timeouts.lingerStarted(now: 95_010)
        #expect(timeouts.expired(now: 97_009) == nil)
        #expect(timeouts.expired(now: 97_010) == .linger)
    }
}

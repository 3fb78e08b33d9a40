import ProxyHTTP
import Testing

@testable import ProxyCore

private typealias Machine = ConnectionStateMachine

private let durations = ClientTimeouts.Durations(clientIdle: 60_000, headerRead: 10_000, upstreamConnect: 5_000, request: 180_000,
                                                 tunnelIdle: 300_000, linger: 2_000)
private let supervised = Machine.RuntimeFacts(supervised: true, draining: false, startTimeout: 10_000)
private let unsupervised = Machine.RuntimeFacts(supervised: false, draining: false, startTimeout: 10_000)
private let nothingKept = Machine.FailedClient(replay: [], replayable: true, receivedResponseBytes: false)

private func request(_ method: HTTPMethod = .get, framing: BodyFraming = .none, route: Machine.LocalRoute? = nil,
                     upgrade: Bool = false, keepAlive: Bool = true, http10: Bool = false, timeout: UInt64? = nil) -> Machine.RequestFacts {
    Machine.RequestFacts(method: method, isHTTP10: http10, keepAlive: keepAlive, isUpgrade: upgrade, framing: framing,
                         localRoute: route, requestTimeout: timeout)
}

private func response(_ status: Int, framing: BodyFraming = .contentLength, hasLength: Bool = true,
                      refusal: String? = nil) -> Machine.ResponseFacts {
    Machine.ResponseFacts(statusCode: status, framing: framing, hasLength: hasLength, upgradeRefusal: refusal)
}

/// A connection whose request (read at t=1000) was admitted and sent upstream
/// on a new connection; `complete`: the whole request has been read.
private func proxyingMachine(_ facts: Machine.RequestFacts = request(), reused: Bool = false, complete: Bool = true) -> Machine {
    var machine = Machine(timeouts: durations, now: 0)
    #expect(machine.clientBytesArrived(now: 1_000) == .parse)
    machine.parsing(now: 1_000)
    #expect(machine.requestHeadCompleted(facts, now: 1_000, nowNanoseconds: 1_000_000_000) == .forward)
    #expect(machine.admissionDecided(.admitted, now: 1_000, queueWait: 30_000) == .sendUpstream)
    _ = machine.upstreamAttached(reused: reused, now: 1_000)
    if complete {
        #expect(machine.requestCompleted(firstHealthCheckPending: false, now: 1_000) == .forwarded(lastChunk: facts.framing == .chunked))
        #expect(machine.parserPaused() == true)
    }
    return machine
}

/// A connection in a WebSocket tunnel opened at t=2000.
private func tunnellingMachine() -> Machine {
    var machine = proxyingMachine(request(upgrade: true), complete: false)
    _ = machine.requestCompleted(firstHealthCheckPending: false, now: 1_000)
    machine.parserStoppedAtUpgrade()
    #expect(machine.responseHeadArrived(response(101, framing: .none, hasLength: false), draining: false, now: 1_500, nowNanoseconds: 0) == .relaySwitch)
    #expect(machine.upstreamSwitched(now: 2_000) == true)
    _ = machine.recordingExchange(nowNanoseconds: 0)  // the shell logs the 101 as the tunnel opens
    return machine
}

@Suite struct ConnectionStateMachineTests {
    // A new connection waits for a request, reads the client, and its next deadline is the idle timeout.
    @Test func newConnectionAwaitsARequest() {
        let machine = Machine(timeouts: durations, now: 0)
        #expect(machine.state == .awaitingRequest)
        #expect(machine.wantsClientReading(heldBytes: 0))
        #expect(machine.nextDeadline == 60_000)
        #expect(machine.isIdle(parserInMessage: false))
        #expect(!machine.isIdle(parserInMessage: true))
    }

    // A forwarded request is counted in flight, holds a slot, and is proxying once attached.
    @Test func admittedRequestIsProxied() {
        let machine = proxyingMachine()
        #expect(machine.state == .proxying)
        #expect(machine.record.counted && machine.record.admitted)
        #expect(machine.hold == .atMessageEnd)
        #expect(!machine.isIdle(parserInMessage: false))
        #expect(machine.nextDeadline == 1_000 + 5_000)  // connecting: the connect timeout is first
    }

    // Pipelined bytes after a request are kept, and the client is read on until they reach the high-water mark.
    @Test func pipelinedBytesAreHeldUpToTheMark() {
        var machine = proxyingMachine()
        #expect(machine.clientBytesArrived(now: 1_100) == .hold)
        #expect(machine.wantsClientReading(heldBytes: Machine.highWaterMark - 1))
        #expect(!machine.wantsClientReading(heldBytes: Machine.highWaterMark))
    }

    // A keep-alive response ends the exchange: the pooled connection is reused and the held request parsed next.
    @Test func completedResponseResumesTheClient() {
        var machine = proxyingMachine(reused: true)
        #expect(machine.responseHeadArrived(response(200), draining: false, now: 1_500, nowNanoseconds: 1_500_000_000)
            == .relayFinal(keepAlive: true, holdForBody: true, expectBody: true))
        #expect(machine.record.firstByteNanoseconds == 500_000_000)
        #expect(machine.responseBodyArrived(byteCount: 10, now: 1_600) == false)
        #expect(machine.responseFinished(upstreamKeepAlive: true, extraBytes: false, draining: false)
            == Machine.Completion(lastChunk: false, reuseUpstream: true, keepClient: true))
        let accounting = machine.recordingExchange(nowNanoseconds: 2_000_000_000)
        #expect(accounting == Machine.Accounting(countEnded: true, releaseAdmission: true, durationNanoseconds: 1_000_000_000))
        #expect(machine.recordingExchange(nowNanoseconds: 2_000_000_000).countEnded == false)  // counted once
        machine.exchangeEnded(now: 2_000)
        #expect(machine.resumeAfterExchange() == true)
        #expect(machine.hold == .none && machine.state == .awaitingRequest)
        #expect(machine.clientBytesArrived(now: 2_000) == .parse)
        #expect(machine.nextDeadline == 62_000)
    }

    // Bytes after a response delimited by the connection's end, or a response without keep-alive, close the upstream connection.
    @Test(arguments: [(true, true), (false, false)])
    func upstreamNotReusedAfterExtraBytesOrClose(keepAlive: Bool, extraBytes: Bool) {
        var machine = proxyingMachine()
        _ = machine.responseHeadArrived(response(200), draining: false, now: 1_500, nowNanoseconds: 0)
        #expect(!machine.responseFinished(upstreamKeepAlive: keepAlive, extraBytes: extraBytes, draining: false).reuseUpstream)
    }

    // HEAD and body-less responses: no body expected after a HEAD, and a head without a length is not held.
    @Test func headAndEmptyResponses() {
        var head = proxyingMachine(request(.head))
        #expect(head.responseHeadArrived(response(200, framing: .none), draining: false, now: 1_500, nowNanoseconds: 0)
            == .relayFinal(keepAlive: true, holdForBody: false, expectBody: false))
        for status in [204, 304] {
            var machine = proxyingMachine()
            #expect(machine.responseHeadArrived(response(status, framing: .none, hasLength: false), draining: false, now: 1_500, nowNanoseconds: 0)
                == .relayFinal(keepAlive: true, holdForBody: false, expectBody: true))
        }
    }

    // A chunked request is re-framed upstream and ended with a last chunk; a chunked response is re-chunked.
    @Test func chunkedBodies() {
        var machine = proxyingMachine(request(.post, framing: .chunked), complete: false)
        #expect(machine.requestBodyArrived(byteCount: 5, now: 1_100) == .forward(.chunked))
        #expect(machine.exchange.requestBodyBytesSent == 5 && machine.record.requestBodyBytes == 5)
        #expect(machine.requestCompleted(firstHealthCheckPending: false, now: 1_000) == .forwarded(lastChunk: true))
        _ = machine.responseHeadArrived(response(200, framing: .chunked, hasLength: false), draining: false, now: 1_500, nowNanoseconds: 0)
        #expect(machine.responseBodyArrived(byteCount: 3, now: 1_600) == true)
        #expect(machine.responseFinished(upstreamKeepAlive: true, extraBytes: false, draining: false).lastChunk)
    }

    // Interim responses: relayed to HTTP/1.1 clients, not to HTTP/1.0 ones; a 101 nobody asked for is not relayed and the switch fails.
    @Test func interimResponses() {
        var machine = proxyingMachine()
        #expect(machine.responseHeadArrived(response(100, framing: .none), draining: false, now: 1_500, nowNanoseconds: 0) == .relayInterim)
        #expect(machine.responseHeadArrived(response(103, framing: .none), draining: false, now: 1_500, nowNanoseconds: 0) == .relayInterim)
        #expect(!machine.exchange.responseStarted)
        var old = proxyingMachine(request(http10: true))
        #expect(old.responseHeadArrived(response(100, framing: .none), draining: false, now: 1_500, nowNanoseconds: 0) == .ignore)
        var unasked = proxyingMachine()
        #expect(unasked.responseHeadArrived(response(101, framing: .none), draining: false, now: 1_500, nowNanoseconds: 0) == .ignore)
        #expect(unasked.upstreamSwitched(now: 0) == false)
        #expect(unasked.switchRefusal == .malformed("switching protocols that were not asked for"))
    }

    // An upgrade: the client's bytes wait for the 101; the tunnel then carries both ways and idles out on its own timeout.
    @Test func upgradeOpensATunnel() {
        var machine = proxyingMachine(request(upgrade: true), complete: false)
        _ = machine.requestCompleted(firstHealthCheckPending: false, now: 1_000)
        machine.parserStoppedAtUpgrade()
        #expect(machine.clientBytesArrived(now: 1_500) == .hold)
        #expect(!machine.wantsClientReading(heldBytes: 0))
        machine = tunnellingMachine()
        #expect(machine.hold == .none && machine.wantsClientReading(heldBytes: 0))
        #expect(machine.clientBytesArrived(now: 3_000) == .forwardToUpstream)
        #expect(machine.nextDeadline == 303_000)
        #expect(machine.timeoutExpired(now: 303_000, nowNanoseconds: 0, queuedBytes: 0, runtimeReady: true)?.1 == .close)
        #expect(!machine.isHTTP)
    }

    // A 101 that fails UpgradeCheck is not relayed, and the switch fails with its reason.
    @Test func refusedUpgradeFails() {
        var machine = proxyingMachine(request(upgrade: true))
        #expect(machine.responseHeadArrived(response(101, framing: .none, refusal: "no Sec-WebSocket-Accept"), draining: false,
                                            now: 1_500, nowNanoseconds: 0) == .ignore)
        #expect(machine.upstreamSwitched(now: 0) == false)
        #expect(machine.switchRefusal == .malformed("no Sec-WebSocket-Accept"))
    }

    // A tunnel closes once both sides have ended, in either order.
    @Test func tunnelClosesWhenBothSidesEnd() {
        var clientFirst = tunnellingMachine()
        #expect(clientFirst.clientDidEnd(parserInMessage: false) == .endTunnel(closeNow: false))
        #expect(clientFirst.upstreamDidEndTunnel() == true)
        var upstreamFirst = tunnellingMachine()
        #expect(upstreamFirst.upstreamDidEndTunnel() == false)
        #expect(upstreamFirst.upstreamEndedTunnel)
        #expect(upstreamFirst.clientDidEnd(parserInMessage: false) == .endTunnel(closeNow: true))
    }

    // A half-close in each state: between requests it closes after queued output; mid-request it aborts; with the request whole the response still goes out.
    @Test func halfCloseInEachState() {
        var idle = Machine(timeouts: durations, now: 0)
        #expect(idle.clientDidEnd(parserInMessage: false) == .closeAfterQueuedOutput)
        var readingHead = Machine(timeouts: durations, now: 0)
        #expect(readingHead.clientDidEnd(parserInMessage: true) == .abort)
        var sendingBody = proxyingMachine(request(.post, framing: .contentLength), complete: false)
        #expect(sendingBody.clientDidEnd(parserInMessage: true) == .abort)
        #expect(sendingBody.record.failureReason == "client closed mid-request")
        var awaitingResponse = proxyingMachine()
        #expect(awaitingResponse.clientDidEnd(parserInMessage: false) == .closeAfterResponse)
        #expect(!awaitingResponse.wantsClientReading(heldBytes: 0))
        #expect(awaitingResponse.responseHeadArrived(response(200), draining: false, now: 1_500, nowNanoseconds: 0)
            == .relayFinal(keepAlive: false, holdForBody: true, expectBody: true))
        #expect(!awaitingResponse.responseFinished(upstreamKeepAlive: true, extraBytes: false, draining: false).keepClient)
        var queued = Machine(timeouts: durations, now: 0)
        _ = queued.requestHeadCompleted(request(), now: 0, nowNanoseconds: 0)
        _ = queued.admissionDecided(.queued, now: 0, queueWait: 1_000)
        #expect(queued.clientDidEnd(parserInMessage: true) == .abort)
        var lingering = proxyingMachine()
        #expect(lingering.closeGracefully(now: 5_000) == true)
        #expect(lingering.clientDidEnd(parserInMessage: false) == .closeAfterQueuedOutput)
    }

    // A local route is answered here, uncounted; a health probe before the first check waits for it.
    @Test func localRoutes() {
        var metrics = Machine(timeouts: durations, now: 0)
        #expect(metrics.requestHeadCompleted(request(route: .metrics), now: 0, nowNanoseconds: 0) == .answerHere)
        #expect(metrics.requestBodyArrived(byteCount: 4, now: 1_100) == .drop)
        #expect(metrics.requestCompleted(firstHealthCheckPending: true, now: 1_000) == .answerLocally(.metrics))
        #expect(!metrics.record.counted)
        var health = Machine(timeouts: durations, now: 0)
        _ = health.requestHeadCompleted(request(route: .health), now: 0, nowNanoseconds: 0)
        #expect(health.requestCompleted(firstHealthCheckPending: true, now: 1_000) == .waitForHealthCheck)
        #expect(health.state == .awaitingHealth)
        #expect(health.parserPaused() == true)
        #expect(health.hold == .atMessageEnd)
        #expect(health.healthCheckFinished() == true)
        #expect(health.healthCheckFinished() == false)  // answered once
        #expect(health.state == .answeringLocally(.health))
        health.localAnswerSent(now: 10)
        #expect(health.state == .awaitingRequest)
    }

    // CONNECT is refused once read.
    @Test func connectIsRefused() {
        var machine = Machine(timeouts: durations, now: 0)
        #expect(machine.requestHeadCompleted(request(.connect), now: 0, nowNanoseconds: 0) == .answerHere)
        #expect(machine.requestCompleted(firstHealthCheckPending: false, now: 1_000) == .refuseConnect)
    }

    // A queued request pauses before its body with the client unread, and is sent once admitted.
    @Test func queuedRequestWaitsForAdmission() {
        var machine = Machine(timeouts: durations, now: 0)
        _ = machine.requestHeadCompleted(request(.post, framing: .contentLength), now: 100, nowNanoseconds: 0)
        #expect(machine.admissionDecided(.queued, now: 100, queueWait: 1_000) == .waitInQueue)
        #expect(machine.record.counted && !machine.record.admitted)
        #expect(machine.parserPaused() == true)
        #expect(machine.hold == .beforeBody)
        #expect(!machine.wantsClientReading(heldBytes: 0))
        #expect(machine.nextDeadline == 1_100)
        #expect(machine.admitted() == .sendUpstream)
        #expect(machine.record.admitted)
        #expect(machine.nextDeadline == 100 + 5_000 || machine.nextDeadline == 180_100)
        _ = machine.upstreamAttached(reused: false, now: 200)
        machine.releaseHold()
        #expect(machine.requestBodyArrived(byteCount: 7, now: 1_100) == .forward(.contentLength))
    }

    // A queued request whose wait runs out leaves the queue with 503 and a reason that says which wait it was.
    @Test(arguments: [(true, "waited too long for a free slot"), (false, "runtime not ready in time")])
    func queueWaitTimesOut(runtimeReady: Bool, reason: String) {
        var machine = Machine(timeouts: durations, now: 0)
        _ = machine.requestHeadCompleted(request(), now: 100, nowNanoseconds: 0)
        _ = machine.admissionDecided(.queued, now: 100, queueWait: 1_000)
        #expect(machine.timeoutExpired(now: 1_099, nowNanoseconds: 0, queuedBytes: 0, runtimeReady: runtimeReady) == nil)
        let expired = machine.timeoutExpired(now: 1_100, nowNanoseconds: 0, queuedBytes: 0, runtimeReady: runtimeReady)
        #expect(expired?.0 == .queueWait && expired?.1 == .leaveQueue(detail: reason))
        #expect(machine.admitted() == nil)  // no longer waiting
    }

    // A full queue: 503 once read, with the reason logged, not counted.
    @Test func fullQueueIsAnsweredHere() {
        var machine = Machine(timeouts: durations, now: 0)
        _ = machine.requestHeadCompleted(request(), now: 0, nowNanoseconds: 0)
        #expect(machine.admissionDecided(.rejected, now: 0, queueWait: 1_000) == .answerQueueFull)
        #expect(machine.requestCompleted(firstHealthCheckPending: false, now: 1_000) == .answerLocally(.queueFull))
        #expect(!machine.record.counted && machine.record.failureReason == "admission queue full")
    }

    // A client that sends no head within the header timeout gets 408; an idle keep-alive connection just closes.
    @Test func headerAndIdleTimeouts() {
        var slow = Machine(timeouts: durations, now: 0)
        slow.parsing(now: 500)
        let expired = slow.timeoutExpired(now: 10_500, nowNanoseconds: 7, queuedBytes: 0, runtimeReady: true)
        #expect(expired?.0 == .headerRead)
        #expect(expired?.1 == .respond(status: 408, detail: "Request Timeout", keepClientOpen: false, timedOut: false))
        #expect(slow.record.startNanoseconds == 7 && slow.record.failureReason != nil)
        var idle = Machine(timeouts: durations, now: 0)
        #expect(idle.timeoutExpired(now: 60_000, nowNanoseconds: 0, queuedBytes: 0, runtimeReady: true)?.1 == .close)
    }

    // The request timeout: 408 "Timeout exceeded" before the response, a cut after its head; X-Request-Timeout shortens it.
    @Test func requestTimeout() {
        var waiting = proxyingMachine(timeoutRequest())
        waiting.upstreamConnected()
        #expect(waiting.nextDeadline == 1_000 + 4_000)
        let expired = waiting.timeoutExpired(now: 5_000, nowNanoseconds: 0, queuedBytes: 0, runtimeReady: true)
        #expect(expired?.0 == .request)
        #expect(expired?.1 == .respond(status: 408, detail: "Timeout exceeded", keepClientOpen: false, timedOut: true))
        var streaming = proxyingMachine()
        streaming.upstreamConnected()
        _ = streaming.responseHeadArrived(response(200), draining: false, now: 1_500, nowNanoseconds: 0)
        #expect(streaming.timeoutExpired(now: 181_000, nowNanoseconds: 0, queuedBytes: 0, runtimeReady: true)?.1 == .abort(timedOut: true))
    }

    private func timeoutRequest() -> Machine.RequestFacts { request(timeout: 4_000) }

    // A connect that takes too long: 504, the client kept open when its request was whole.
    @Test(arguments: [true, false])
    func connectTimeout(complete: Bool) {
        var machine = proxyingMachine(request(.post, framing: .contentLength), complete: complete)
        let expired = machine.timeoutExpired(now: 6_000, nowNanoseconds: 0, queuedBytes: 0, runtimeReady: true)
        #expect(expired?.0 == .upstreamConnect)
        #expect(expired?.1 == .respond(status: 504, detail: "upstream connect timeout", keepClientOpen: complete, timedOut: false))
    }

    // Lingering waits on while the client keeps taking queued output, then closes.
    @Test func lingerWaitsForAReadingClient() {
        var machine = proxyingMachine()
        #expect(machine.closeGracefully(now: 1_000) == true)
        #expect(machine.closeGracefully(now: 1_000) == false)
        #expect(machine.clientBytesArrived(now: 1_500) == .discard)
        #expect(machine.wantsClientReading(heldBytes: 0))
        #expect(machine.timeoutExpired(now: 3_000, nowNanoseconds: 0, queuedBytes: 500, runtimeReady: true)?.1 == .keepLingering)
        #expect(machine.timeoutExpired(now: 4_999, nowNanoseconds: 0, queuedBytes: 400, runtimeReady: true) == nil)
        #expect(machine.timeoutExpired(now: 5_000, nowNanoseconds: 0, queuedBytes: 400, runtimeReady: true)?.1 == .keepLingering)
        #expect(machine.timeoutExpired(now: 7_000, nowNanoseconds: 0, queuedBytes: 400, runtimeReady: true)?.1 == .close)
    }

    // A pooled connection the upstream had closed is retried once, on a fresh one, with what it had kept.
    @Test func staleReusedConnectionIsRetriedOnce() {
        var machine = proxyingMachine(request(.put, framing: .contentLength), reused: true)
        let kept = Machine.FailedClient(replay: [1, 2, 3], replayable: true, receivedResponseBytes: false)
        #expect(machine.upstreamFailed(.closed("EOF"), client: kept, runtime: unsupervised, now: 1_100) == .retryNow)
        #expect(machine.takeReplay() == [1, 2, 3])
        #expect(machine.takeReplay().isEmpty)  // taken once
        _ = machine.upstreamAttached(reused: false, now: 1_100)
        #expect(machine.upstreamFailed(.closed("EOF"), client: kept, runtime: unsupervised, now: 1_200)
            == .respond(status: 502, keepClientOpen: true))
        #expect(machine.record.failureReason == "upstream closed connection (EOF)")
    }

    // A reset is retried even on a new connection; after the response began, a failure cuts the client.
    @Test func resetIsRetriedAndLateFailureAborts() {
        var machine = proxyingMachine()
        #expect(machine.upstreamFailed(.reset("ECONNRESET"), client: nothingKept, runtime: unsupervised, now: 1_100) == .retryNow)
        _ = machine.upstreamAttached(reused: false, now: 1_100)
        _ = machine.responseHeadArrived(response(200), draining: false, now: 1_500, nowNanoseconds: 0)
        #expect(machine.upstreamFailed(.reset("ECONNRESET"), client: nothingKept, runtime: unsupervised, now: 1_200) == .abort)
    }

    // A supervised runtime that refuses is tried again every 50 ms with the client held back, until the start timeout.
    @Test func refusingRuntimeIsWaitedFor() {
        var machine = proxyingMachine(request(.post, framing: .contentLength))
        #expect(machine.upstreamFailed(.refused("ECONNREFUSED"), client: nothingKept, runtime: supervised, now: 2_000) == .waitToRetry)
        #expect(machine.state == .awaitingRetry(retryAt: 2_050))
        #expect(!machine.wantsClientReading(heldBytes: 0))
        #expect(machine.nextDeadline == 2_050)
        #expect(machine.requestBodyArrived(byteCount: 3, now: 1_100) == .drop)  // nothing upstream to take it
        #expect(machine.retryIsDue(now: 2_049) == false)
        #expect(machine.retryIsDue(now: 2_050) == true)
        #expect(machine.upstreamAttached(reused: false, now: 2_050) == true)  // the new client reports its drain
        machine.upstreamDrained()
        #expect(machine.upstreamFailed(.refused("ECONNREFUSED"), client: nothingKept, runtime: supervised, now: 11_999) == .waitToRetry)
        _ = machine.upstreamAttached(reused: false, now: 12_000)
        #expect(machine.upstreamFailed(.refused("ECONNREFUSED"), client: nothingKept, runtime: supervised, now: 12_000)
            == .respond(status: 502, keepClientOpen: true))
    }

    // Without supervision, or while draining, a refusal is answered 502 at once.
    @Test func refusalWithoutSupervisionIsAnswered() {
        var machine = proxyingMachine()
        #expect(machine.upstreamFailed(.refused("ECONNREFUSED"), client: nothingKept, runtime: unsupervised, now: 1_100)
            == .respond(status: 502, keepClientOpen: true))
        var draining = proxyingMachine()
        let facts = Machine.RuntimeFacts(supervised: true, draining: true, startTimeout: 10_000)
        #expect(draining.upstreamFailed(.refused("ECONNREFUSED"), client: nothingKept, runtime: facts, now: 1_100)
            == .respond(status: 502, keepClientOpen: true))
    }

    // While draining, a response closes its client connection and an error answer does not keep it.
    @Test func drainingClosesAfterTheResponse() {
        var machine = proxyingMachine()
        #expect(machine.responseHeadArrived(response(200), draining: true, now: 1_500, nowNanoseconds: 0)
            == .relayFinal(keepAlive: false, holdForBody: true, expectBody: true))
        #expect(!machine.keepsClient(afterLocalAnswer: true, draining: true))
        #expect(!proxyingMachine().keepsClient(afterLocalAnswer: true, draining: true))
        #expect(proxyingMachine().keepsClient(afterLocalAnswer: true, draining: false))
    }

    // Back-pressure: a full upstream stops the client's reads until it drains.
    @Test func backPressureHoldsTheClient() {
        var machine = proxyingMachine(request(.post, framing: .contentLength), complete: false)
        machine.upstreamFull()
        #expect(!machine.wantsClientReading(heldBytes: 0))
        machine.upstreamDrained()
        #expect(machine.wantsClientReading(heldBytes: 0))
    }

    // Closing mid-exchange logs 499 before a response, the status after; a queued request leaves the queue.
    @Test func closingMidExchangeRecords() {
        var waiting = proxyingMachine()
        #expect(waiting.closeNow() == Machine.Closing(leaveQueue: false, recordStatus: 499))
        #expect(waiting.record.failureReason == "client closed connection")
        #expect(waiting.closeNow() == nil)
        var started = proxyingMachine()
        _ = started.responseHeadArrived(response(503), draining: false, now: 1_500, nowNanoseconds: 0)
        #expect(started.closeNow()?.recordStatus == 503)
        var queued = Machine(timeouts: durations, now: 0)
        _ = queued.requestHeadCompleted(request(), now: 0, nowNanoseconds: 0)
        _ = queued.admissionDecided(.queued, now: 0, queueWait: 1_000)
        #expect(queued.closeNow() == Machine.Closing(leaveQueue: true, recordStatus: 499))
        var idle = Machine(timeouts: durations, now: 0)
        #expect(idle.closeNow() == Machine.Closing(leaveQueue: false, recordStatus: nil))
        #expect(idle.timeoutExpired(now: 100_000, nowNanoseconds: 0, queuedBytes: 0, runtimeReady: true) == nil)
    }

    // A queued request that is recorded gives back no slot it never had.
    @Test func onlyAnAdmittedExchangeReleasesASlot() {
        var machine = Machine(timeouts: durations, now: 0)
        _ = machine.requestHeadCompleted(request(), now: 0, nowNanoseconds: 0)
        _ = machine.admissionDecided(.queued, now: 0, queueWait: 1_000)
        #expect(machine.recordingExchange(nowNanoseconds: 5) == Machine.Accounting(countEnded: true, releaseAdmission: false,
                                                                                   durationNanoseconds: 5))
    }

    // A bad request is answered before any response, and cuts the connection after one began.
    @Test func unparsableRequest() {
        var reading = Machine(timeouts: durations, now: 0)
        #expect(reading.requestFailed(reason: "bad", status: 400, readingHead: true, nowNanoseconds: 9) == .respond)
        #expect(reading.record.startNanoseconds == 9)
        var started = proxyingMachine()
        _ = started.responseHeadArrived(response(200), draining: false, now: 1_500, nowNanoseconds: 0)
        #expect(started.requestFailed(reason: "bad", status: 400, readingHead: false, nowNanoseconds: 9) == .abort)
    }

    // An error the proxy answers ends the exchange: the next request's idle timeout starts.
    @Test func answerHereEndsTheExchange() {
        var machine = proxyingMachine()
        _ = machine.upstreamFailed(.malformed("x"), client: nothingKept, runtime: unsupervised, now: 1_100)
        machine.answeredHere(now: 1_100)
        #expect(machine.exchange.responseStarted)
        #expect(machine.state == .awaitingRequest)
        #expect(machine.nextDeadline == 61_100)
    }
}

/// One machine in each state, built through the events that lead there.
enum BuiltState: String, CaseIterable, CustomTestStringConvertible {
    case awaitingRequest, answeringLocally, refusingConnect, awaitingHealth, queued, proxying, awaitingRetry, tunnel, lingering, closed

    var testDescription: String { rawValue }

    fileprivate var machine: Machine {
        var machine = Machine(timeouts: durations, now: 0)
        switch self {
        case .awaitingRequest: break
        case .answeringLocally: _ = machine.requestHeadCompleted(request(route: .metrics), now: 0, nowNanoseconds: 0)
        case .refusingConnect: _ = machine.requestHeadCompleted(request(.connect), now: 0, nowNanoseconds: 0)
        case .awaitingHealth:
            _ = machine.requestHeadCompleted(request(route: .health), now: 0, nowNanoseconds: 0)
            _ = machine.requestCompleted(firstHealthCheckPending: true, now: 1_000)
            _ = machine.parserPaused()
        case .queued:
            _ = machine.requestHeadCompleted(request(), now: 0, nowNanoseconds: 0)
            _ = machine.admissionDecided(.queued, now: 0, queueWait: 1_000)
            _ = machine.parserPaused()
        case .proxying: machine = proxyingMachine()
        case .awaitingRetry:
            machine = proxyingMachine()
            _ = machine.upstreamFailed(.refused("ECONNREFUSED"), client: nothingKept, runtime: supervised, now: 1_000)
        case .tunnel: machine = tunnellingMachine()
        case .lingering: _ = machine.closeGracefully(now: 0)
        case .closed: _ = machine.closeNow()
        }
        return machine
    }
}

/// What each state answers to the events every state can receive.
private struct Expected {
    var bytes: Machine.ClientBytesAction
    var clientEnd: Machine.ClientEndAction
    var reads: Bool
    var closing: Machine.Closing?
    var isHTTP: Bool
}

private let expectations: [BuiltState: Expected] = [
    .awaitingRequest: Expected(bytes: .parse, clientEnd: .closeAfterQueuedOutput, reads: true,
                               closing: .init(leaveQueue: false, recordStatus: nil), isHTTP: true),
    .answeringLocally: Expected(bytes: .parse, clientEnd: .closeAfterQueuedOutput, reads: true,
                                closing: .init(leaveQueue: false, recordStatus: nil), isHTTP: true),
    .refusingConnect: Expected(bytes: .parse, clientEnd: .closeAfterQueuedOutput, reads: true,
                               closing: .init(leaveQueue: false, recordStatus: nil), isHTTP: true),
    .awaitingHealth: Expected(bytes: .hold, clientEnd: .closeAfterQueuedOutput, reads: true,
                              closing: .init(leaveQueue: false, recordStatus: nil), isHTTP: true),
    .queued: Expected(bytes: .hold, clientEnd: .abort, reads: false, closing: .init(leaveQueue: true, recordStatus: 499), isHTTP: true),
    .proxying: Expected(bytes: .hold, clientEnd: .closeAfterResponse, reads: true,
                        closing: .init(leaveQueue: false, recordStatus: 499), isHTTP: true),
    .awaitingRetry: Expected(bytes: .hold, clientEnd: .closeAfterQueuedOutput, reads: false,
                             closing: .init(leaveQueue: false, recordStatus: 499), isHTTP: true),
    .tunnel: Expected(bytes: .forwardToUpstream, clientEnd: .endTunnel(closeNow: false), reads: true,
                      closing: .init(leaveQueue: false, recordStatus: nil), isHTTP: false),
    .lingering: Expected(bytes: .discard, clientEnd: .closeAfterQueuedOutput, reads: true,
                         closing: .init(leaveQueue: false, recordStatus: nil), isHTTP: false),
    .closed: Expected(bytes: .discard, clientEnd: .nothing, reads: false, closing: nil, isHTTP: false),
]

@Suite struct ConnectionStateMachineMatrixTests {
    // Every state against client bytes, the client's end, the read decision, closing, and whether it carries HTTP.
    @Test(arguments: BuiltState.allCases)
    func eachStateAnswersTheCommonEvents(built: BuiltState) throws {
        let expected = try #require(expectations[built])
        var bytes = built.machine
        #expect(bytes.clientBytesArrived(now: 1_500) == expected.bytes)
        var ended = built.machine
        #expect(ended.clientDidEnd(parserInMessage: false) == expected.clientEnd)
        #expect(ended.clientEnded)
        #expect(built.machine.wantsClientReading(heldBytes: 0) == expected.reads)
        var closing = built.machine
        #expect(closing.closeNow() == expected.closing)
        #expect(closing.isClosed)
        #expect(built.machine.isHTTP == expected.isHTTP)
    }

    // Only a waiting request is admitted, only a waiting probe is answered, only a refused exchange is retried.
    @Test(arguments: BuiltState.allCases)
    func stateSpecificEventsAreIgnoredElsewhere(built: BuiltState) {
        var admission = built.machine
        #expect((admission.admitted() != nil) == (built == .queued))
        var health = built.machine
        #expect(health.healthCheckFinished() == (built == .awaitingHealth))
        var retry = built.machine
        #expect(retry.retryIsDue(now: 100_000) == (built == .awaitingRetry))
        var body = built.machine
        #expect((body.requestBodyArrived(byteCount: 1, now: 1_100) != .drop) == (built == .proxying))
        var graceful = built.machine
        #expect(graceful.closeGracefully(now: 2_000) == (built != .lingering && built != .closed))
    }

    // Every state has a deadline for its timer, and the timeout it names is the one its state arms.
    @Test(arguments: BuiltState.allCases)
    func eachStateTimesOut(built: BuiltState) {
        var machine = built.machine
        let expiry = machine.timeoutExpired(now: 10_000_000, nowNanoseconds: 0, queuedBytes: 0, runtimeReady: true)
        let expected: TimeoutKind? = switch built {
        case .awaitingRequest: .clientIdle
        case .answeringLocally, .refusingConnect, .awaitingHealth, .awaitingRetry: .request
        case .queued: .queueWait
        case .proxying: .upstreamConnect
        case .tunnel: .tunnelIdle
        case .lingering: .linger
        case .closed: nil
        }
        #expect(expiry?.0 == expected)
    }
}

@Suite struct ProxyErrorTests {
    // Each way the proxy ends an exchange carries its token, which the header and the JSON log use.
    @Test func failuresCarryTheirToken() {
        var refused = proxyingMachine()
        _ = refused.upstreamFailed(.refused("ECONNREFUSED"), client: nothingKept, runtime: unsupervised, now: 1_100)
        #expect(refused.record.error == .upstreamRefused)
        var slow = proxyingMachine()
        slow.upstreamConnected()
        _ = slow.timeoutExpired(now: 181_000, nowNanoseconds: 0, queuedBytes: 0, runtimeReady: true)
        #expect(slow.record.error == .requestTimeout)
        var connecting = proxyingMachine()
        _ = connecting.timeoutExpired(now: 6_000, nowNanoseconds: 0, queuedBytes: 0, runtimeReady: true)
        #expect(connecting.record.error == .connectTimeout)
        for (ready, token) in [(true, ProxyError.queueTimeout), (false, .runtimeStarting)] {
            var queued = Machine(timeouts: durations, now: 0)
            _ = queued.requestHeadCompleted(request(), now: 0, nowNanoseconds: 0)
            _ = queued.admissionDecided(.queued, now: 0, queueWait: 1_000)
            _ = queued.timeoutExpired(now: 1_000, nowNanoseconds: 0, queuedBytes: 0, runtimeReady: ready)
            #expect(queued.record.error == token)
        }
        var full = Machine(timeouts: durations, now: 0)
        _ = full.requestHeadCompleted(request(), now: 0, nowNanoseconds: 0)
        _ = full.admissionDecided(.rejected, now: 0, queueWait: 1_000)
        #expect(full.record.error == .queueFull)
        var bad = Machine(timeouts: durations, now: 0)
        _ = bad.requestFailed(reason: "too big", status: 431, readingHead: true, nowNanoseconds: 0)
        #expect(bad.record.error == .headersTooLarge)
        var gone = proxyingMachine()
        #expect(gone.closeNow()?.recordStatus == 499)
        #expect(gone.record.error == .clientClosed)
    }

    // Upstream failures map one to one; parse errors by their status.
    @Test func tokensFromFailures() {
        #expect(ProxyError(.reset("x")).token == "upstream-reset")
        #expect(ProxyError(.malformed("x")).token == "invalid-response")
        #expect(ProxyError(parseStatus: 414) == .uriTooLong)
        #expect(ProxyError(parseStatus: 505) == .badRequest)
        #expect(String(decoding: ProxyError.queueFull.field, as: UTF8.self) == "X-Runtime-Proxy-Error: queue-full\r\n")
    }
}

@Suite struct ConnectionStateMachineBufferingTests {
    private func collecting(limit: Int = 10) -> Machine {
        var machine = Machine(timeouts: durations, bodyBufferLimit: limit, now: 0)
        _ = machine.requestHeadCompleted(request(.post, framing: .chunked), now: 0, nowNanoseconds: 0)
        #expect(machine.admissionDecided(.admitted, now: 0, queueWait: 1_000) == .collectBody)
        return machine
    }

    // With buffering on, a chunked body is collected (nothing upstream) and sent whole, with its length, once read.
    @Test func chunkedBodyIsCollectedThenSent() {
        var machine = collecting()
        #expect(machine.state == .bufferingBody)
        #expect(machine.requestBodyArrived(byteCount: 4, now: 1_100) == .collect)
        #expect(machine.requestBodyArrived(byteCount: 6, now: 1_100) == .collect)
        #expect(machine.exchange.requestBodyBytesSent == 0)
        #expect(machine.requestCompleted(firstHealthCheckPending: false, now: 1_000) == .sendCollected(contentLength: 10))
        _ = machine.upstreamAttached(reused: false, now: 10)
        machine.collectedBodySent()
        #expect(machine.exchange.requestBodyBytesSent == 10)
        #expect(machine.parserPaused() == true)
        #expect(machine.state == .proxying)
    }

    // A body past the limit: 413, with the reason logged.
    @Test func bodyPastTheLimitIsRefused() {
        var machine = collecting(limit: 5)
        #expect(machine.requestBodyArrived(byteCount: 5, now: 1_100) == .collect)
        #expect(machine.requestBodyArrived(byteCount: 1, now: 1_100) == .tooLarge(limit: 5))
        #expect(machine.record.failureReason == "request body larger than the buffer limit")
    }

    // A body with a length streams as before, and so does every body with buffering off.
    @Test func otherBodiesStream() {
        var counted = Machine(timeouts: durations, bodyBufferLimit: 10, now: 0)
        _ = counted.requestHeadCompleted(request(.post, framing: .contentLength), now: 0, nowNanoseconds: 0)
        #expect(counted.admissionDecided(.admitted, now: 0, queueWait: 1_000) == .sendUpstream)
        var off = Machine(timeouts: durations, now: 0)
        _ = off.requestHeadCompleted(request(.post, framing: .chunked), now: 0, nowNanoseconds: 0)
        #expect(off.admissionDecided(.admitted, now: 0, queueWait: 1_000) == .sendUpstream)
    }

    // A queued chunked request collects its body once admitted.
    @Test func queuedRequestCollectsOnceAdmitted() {
        var machine = Machine(timeouts: durations, bodyBufferLimit: 10, now: 0)
        _ = machine.requestHeadCompleted(request(.post, framing: .chunked), now: 0, nowNanoseconds: 0)
        _ = machine.admissionDecided(.queued, now: 0, queueWait: 1_000)
        #expect(machine.admitted() == .collectBody)
        #expect(machine.state == .bufferingBody)
    }

    // Mid-collection the client's end aborts, the request timeout answers 408, and a close logs 499.
    @Test func collectingStateAgainstEndsAndTimeouts() {
        var ended = collecting()
        #expect(ended.clientDidEnd(parserInMessage: true) == .abort)
        var slow = collecting()
        #expect(slow.timeoutExpired(now: 180_000, nowNanoseconds: 0, queuedBytes: 0, runtimeReady: true)?.1
            == .respond(status: 408, detail: "Timeout exceeded", keepClientOpen: false, timedOut: true))
        var closing = collecting()
        #expect(closing.closeNow()?.recordStatus == 499)
        #expect(collecting().isIdle(parserInMessage: false) == false)
        #expect(collecting().wantsClientReading(heldBytes: 0))
    }

    // The server's budget: reservations fit under the limit and come back whole.
    @Test func budgetBoundsWhatIsHeld() {
        var budget = RequestBodyBudget(limit: 100)
        #expect(budget.reserve(60) == true)
        #expect(budget.reserve(41) == false)
        #expect(budget.reserve(40) == true)
        budget.release(60)
        #expect(budget.held == 40)
        #expect(budget.reserve(60) == true)
    }
}

@Suite struct ResponseTimeoutTests {
    private let withResponseTimeouts = ClientTimeouts.Durations(clientIdle: 60_000, headerRead: 10_000, upstreamConnect: 5_000,
                                                                request: 180_000, tunnelIdle: 300_000, responseStart: 2_000,
                                                                responseIdle: 3_000)

    private func sent() -> ConnectionStateMachine {
        var machine = ConnectionStateMachine(timeouts: withResponseTimeouts, now: 0)
        _ = machine.requestHeadCompleted(request(), now: 1_000, nowNanoseconds: 0)
        _ = machine.admissionDecided(.admitted, now: 1_000, queueWait: 1_000)
        _ = machine.upstreamAttached(reused: true, now: 1_000)
        _ = machine.requestCompleted(firstHealthCheckPending: false, now: 1_200)
        return machine
    }

    // The response-start timeout runs from the whole request going upstream to the first response byte: 504, named.
    @Test func responseStartTimesOutWith504() {
        var machine = sent()
        #expect(machine.nextDeadline == 3_200)
        let expired = machine.timeoutExpired(now: 3_200, nowNanoseconds: 0, queuedBytes: 0, runtimeReady: true)
        #expect(expired?.0 == .responseStart)
        #expect(expired?.1 == .respond(status: 504, detail: "no response within the response start timeout", keepClientOpen: true,
                                       timedOut: true))
        #expect(machine.record.error == .responseStartTimeout)
    }

    // A first byte (even an interim 100) stops it; then the response idle timeout runs, moved on by every byte either way, and cuts.
    @Test func responseIdleCutsAStalledResponse() {
        var machine = sent()
        _ = machine.responseHeadArrived(response(100, framing: .none), draining: false, now: 2_000, nowNanoseconds: 0)
        #expect(machine.nextDeadline == 5_000)
        _ = machine.responseHeadArrived(response(200, framing: .chunked, hasLength: false), draining: false, now: 2_500, nowNanoseconds: 0)
        _ = machine.responseBodyArrived(byteCount: 10, now: 4_000)
        #expect(machine.nextDeadline == 7_000)
        #expect(machine.timeoutExpired(now: 6_999, nowNanoseconds: 0, queuedBytes: 0, runtimeReady: true) == nil)
        let expired = machine.timeoutExpired(now: 7_000, nowNanoseconds: 0, queuedBytes: 0, runtimeReady: true)
        #expect(expired?.0 == .responseIdle && expired?.1 == .abort(timedOut: true))
        #expect(machine.record.error == .responseIdleTimeout)
    }

    // Off by default: only the request timeout bounds the exchange, as with Kubeless.
    @Test func offByDefault() {
        var machine = ConnectionStateMachine(timeouts: durations, now: 0)
        _ = machine.requestHeadCompleted(request(), now: 1_000, nowNanoseconds: 0)
        _ = machine.admissionDecided(.admitted, now: 1_000, queueWait: 1_000)
        _ = machine.upstreamAttached(reused: true, now: 1_000)
        _ = machine.requestCompleted(firstHealthCheckPending: false, now: 1_000)
        #expect(machine.nextDeadline == 181_000)
        _ = machine.responseHeadArrived(response(200), draining: false, now: 2_000, nowNanoseconds: 0)
        #expect(machine.nextDeadline == 181_000)
    }

    // The response-start timeout does not run while the body is still being sent, and restarts on a retry.
    @Test func startsOnceTheRequestIsWhole() {
        var machine = ConnectionStateMachine(timeouts: withResponseTimeouts, now: 0)
        _ = machine.requestHeadCompleted(request(.post, framing: .contentLength), now: 1_000, nowNanoseconds: 0)
        _ = machine.admissionDecided(.admitted, now: 1_000, queueWait: 1_000)
        _ = machine.upstreamAttached(reused: true, now: 1_000)
        #expect(machine.nextDeadline == 181_000)
        _ = machine.requestCompleted(firstHealthCheckPending: false, now: 9_000)
        #expect(machine.nextDeadline == 11_000)
        _ = machine.upstreamFailed(.closed("EOF"), client: nothingKept, runtime: unsupervised, now: 10_000)
        _ = machine.upstreamAttached(reused: false, now: 10_000)
        #expect(machine.timeoutExpired(now: 11_000, nowNanoseconds: 0, queuedBytes: 0, runtimeReady: true) == nil)
        #expect(machine.timeoutExpired(now: 12_000, nowNanoseconds: 0, queuedBytes: 0, runtimeReady: true)?.0 == .responseStart)
    }
}

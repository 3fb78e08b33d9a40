import Testing

@testable import ProxyCore

private typealias Step = ShutdownSequence.Step

/// The steps without their log lines, which are for people.
private func withoutLogs(_ steps: [Step]) -> [Step] {
    steps.filter { if case .log = $0 { false } else { true } }
}

/// A sequence that received SIGTERM at 1,000 with a 5 s drain delay and a 30 s shutdown timeout.
private func announcing() -> ShutdownSequence {
    var sequence = ShutdownSequence(drainDelay: 5_000, shutdownTimeout: 30_000)
    _ = sequence.signalReceived("SIGTERM", now: 1_000, openConnections: 3)
    return sequence
}

/// The same, past its drain delay (at 6,000) with 3 connections open: draining until 36,000.
private func draining() -> ShutdownSequence {
    var sequence = announcing()
    _ = sequence.tick(now: 6_000, openConnections: 3)
    return sequence
}

@Suite struct ShutdownSequenceTests {
    // While serving: not draining, no deadline, and ticks or connection changes do nothing.
    @Test func servingIsInert() {
        var sequence = ShutdownSequence(drainDelay: 5_000, shutdownTimeout: 30_000)
        #expect(sequence.phase == .serving)
        #expect(!sequence.isDraining)
        #expect(sequence.nextDeadline == nil)
        #expect(sequence.tick(now: 1_000_000, openConnections: 0).isEmpty)
        #expect(sequence.connectionsChanged(openConnections: 0).isEmpty)
        #expect(sequence.phase == .serving)
    }

    // No drain delay and no connections: one signal runs the whole sequence to stopRuntime, in this exact order.
    @Test func signalWithoutDelayOrConnectionsStopsAtOnce() {
        var sequence = ShutdownSequence(drainDelay: 0, shutdownTimeout: 30_000)
        let steps = sequence.signalReceived("SIGTERM", now: 1_000, openConnections: 0)
        #expect(steps == [
            .log("SIGTERM: draining; readiness now 503, accepting new connections for 0 ms more"),
            .log("listener closed; waiting up to 30000 ms for 0 connection(s)"),
            .closeListeners,
            .closeIdleConnections,
            .log("all requests finished"),
            .stopRuntime,
        ])
        #expect(sequence.phase == .stoppingRuntime)
        #expect(sequence.isDraining)
        #expect(sequence.nextDeadline == nil)
    }

    // No drain delay but open connections: listeners and idle connections close at once, then it drains.
    @Test func signalWithoutDelayWithConnectionsDrains() {
        var sequence = ShutdownSequence(drainDelay: 0, shutdownTimeout: 30_000)
        let steps = sequence.signalReceived("SIGINT", now: 1_000, openConnections: 2)
        #expect(withoutLogs(steps) == [.closeListeners, .closeIdleConnections])
        #expect(sequence.phase == .draining(deadline: 31_000))
        #expect(sequence.nextDeadline == 31_000)
    }

    // With a drain delay the signal only announces (readiness 503) and sets the deadline.
    @Test func signalWithDelayAnnounces() {
        var sequence = ShutdownSequence(drainDelay: 5_000, shutdownTimeout: 30_000)
        let steps = sequence.signalReceived("SIGTERM", now: 1_000, openConnections: 3)
        #expect(steps.count == 1 && withoutLogs(steps).isEmpty)
        #expect(sequence.phase == .announcing(until: 6_000))
        #expect(sequence.isDraining)
        #expect(sequence.nextDeadline == 6_000)
    }

    // While announcing, a tick before the deadline and connection changes (even to 0) do nothing.
    @Test func announcingWaitsForItsDeadline() {
        var sequence = announcing()
        #expect(sequence.tick(now: 5_999, openConnections: 3).isEmpty)
        #expect(sequence.connectionsChanged(openConnections: 0).isEmpty)
        #expect(sequence.phase == .announcing(until: 6_000))
    }

    // At the drain-delay deadline: close listeners and idle connections, then drain for the shutdown timeout.
    @Test func announcingDeadlineStartsDraining() {
        var sequence = announcing()
        let steps = sequence.tick(now: 6_000, openConnections: 3)
        #expect(withoutLogs(steps) == [.closeListeners, .closeIdleConnections])
        #expect(sequence.phase == .draining(deadline: 36_000))
        #expect(sequence.isDraining)
        #expect(sequence.nextDeadline == 36_000)
    }

    // At the drain-delay deadline with nothing open, it goes straight on to stopRuntime.
    @Test func announcingDeadlineWithNoConnectionsStops() {
        var sequence = announcing()
        let steps = sequence.tick(now: 6_000, openConnections: 0)
        #expect(withoutLogs(steps) == [.closeListeners, .closeIdleConnections, .stopRuntime])
        #expect(sequence.phase == .stoppingRuntime)
    }

    // While draining, the last connection closing stops the runtime, once; fewer-but-some does nothing.
    @Test func drainingEndsWhenConnectionsAreGone() {
        var sequence = draining()
        #expect(sequence.connectionsChanged(openConnections: 2).isEmpty)
        #expect(sequence.phase == .draining(deadline: 36_000))
        let steps = sequence.connectionsChanged(openConnections: 0)
        #expect(withoutLogs(steps) == [.stopRuntime])
        #expect(sequence.phase == .stoppingRuntime)
        #expect(sequence.nextDeadline == nil)
        #expect(sequence.connectionsChanged(openConnections: 0).isEmpty)
        #expect(sequence.tick(now: 36_000, openConnections: 0).isEmpty)
    }

    // The shutdown timeout cuts what is still open and stops the runtime; not a millisecond earlier.
    @Test func drainingDeadlineCutsConnections() {
        var sequence = draining()
        #expect(sequence.tick(now: 35_999, openConnections: 2).isEmpty)
        let steps = sequence.tick(now: 36_000, openConnections: 2)
        #expect(withoutLogs(steps) == [.closeAllConnections, .stopRuntime])
        #expect(sequence.phase == .stoppingRuntime)
        #expect(sequence.nextDeadline == nil)
    }

    // A second signal while announcing or draining hurries: close listeners and everything, stop the runtime.
    @Test(arguments: [false, true])
    func secondSignalHurries(afterDrainDelay: Bool) {
        var sequence = afterDrainDelay ? draining() : announcing()
        let steps = sequence.signalReceived("SIGINT", now: 7_000, openConnections: 2)
        #expect(withoutLogs(steps) == [.closeListeners, .closeAllConnections, .stopRuntime])
        #expect(steps.count == 4)
        #expect(sequence.phase == .stoppingRuntime)
        #expect(sequence.isDraining)
        #expect(sequence.nextDeadline == nil)
    }

    // Once the runtime is being stopped, a signal only skips its grace (SIGKILL); ticks and connection changes do nothing.
    @Test func stoppingRuntimeIsFinal() {
        var sequence = draining()
        _ = sequence.connectionsChanged(openConnections: 0)
        #expect(withoutLogs(sequence.signalReceived("SIGTERM", now: 40_000, openConnections: 0)) == [.killRuntime])
        #expect(withoutLogs(sequence.signalReceived("SIGINT", now: 40_001, openConnections: 1)) == [.killRuntime])
        #expect(sequence.tick(now: 100_000, openConnections: 1).isEmpty)
        #expect(sequence.phase == .stoppingRuntime)
        #expect(sequence.isDraining)
        #expect(sequence.nextDeadline == nil)
    }
}

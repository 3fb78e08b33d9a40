import ProxySystem
import Testing

@testable import ProxyCore

private typealias Machine = SupervisorStateMachine
private typealias Action = SupervisorStateMachine.Action

private let sigterm = Signal.terminate
private let sigkill = Signal.kill

private func makeMachine(_ policy: Machine.RestartPolicy = .always, stopGrace: UInt64 = 2_000,
                         initialBackoff: UInt64 = 100, maximumBackoff: UInt64 = 800,
                         stableAfter: UInt64 = 10_000) -> Machine {
    var settings = Machine.Settings(restartPolicy: policy, stopGrace: stopGrace)
    settings.initialBackoff = initialBackoff
    settings.maximumBackoff = maximumBackoff
    settings.stableAfter = stableAfter
    return Machine(settings: settings)
}

/// A machine whose runtime (pid 42) was spawned at `spawnAt` and answered 50 ms later.
private func readyMachine(_ policy: Machine.RestartPolicy = .always, stopGrace: UInt64 = 2_000,
                          spawnAt: UInt64 = 1_000) -> Machine {
    var machine = makeMachine(policy, stopGrace: stopGrace)
    _ = machine.start()
    _ = machine.spawned(pid: 42, now: spawnAt)
    _ = machine.becameReady(now: spawnAt + 50)
    return machine
}

/// The actions without their log lines, which are for people.
private func withoutLogs(_ actions: [Action]) -> [Action] {
    actions.filter { if case .log = $0 { false } else { true } }
}

private func hasLog(_ actions: [Action]) -> Bool { actions.count != withoutLogs(actions).count }

@Suite struct SupervisorStateMachineTests {
    // start asks for exactly one spawn and leaves the machine not started until the shell reports the pid.
    @Test func startSpawns() {
        var machine = makeMachine()
        #expect(machine.start() == [.spawn])
        #expect(machine.phase == .notStarted)
        #expect(machine.pid == nil)
        #expect(machine.nextDeadline == nil)
    }

    // spawned moves to starting with the pid and spawn time, and logs.
    @Test func spawnedEntersStarting() {
        var machine = makeMachine()
        _ = machine.start()
        let actions = machine.spawned(pid: 42, now: 10)
        #expect(withoutLogs(actions).isEmpty && hasLog(actions))
        #expect(machine.phase == .starting(pid: 42, since: 10))
        #expect(machine.pid == 42)
        #expect(machine.nextDeadline == nil)
    }

    // becameReady reports the startup time measured from the spawn, and keeps the spawn time in ready.
    @Test func becameReadyReportsStartup() {
        var machine = makeMachine()
        _ = machine.start()
        _ = machine.spawned(pid: 42, now: 10)
        let actions = machine.becameReady(now: 260)
        #expect(withoutLogs(actions) == [.runtimeReady(startupMilliseconds: 250)])
        #expect(machine.phase == .ready(pid: 42, since: 10))
        #expect(machine.nextDeadline == nil)
    }

    // becameReady outside starting (before start, when ready, while backing off) does nothing.
    @Test func becameReadyIgnoredWhenNotStarting() {
        var machine = makeMachine()
        #expect(machine.becameReady(now: 5).isEmpty)
        #expect(machine.phase == .notStarted)
        machine = readyMachine()
        #expect(machine.becameReady(now: 2_000).isEmpty)
        #expect(machine.phase == .ready(pid: 42, since: 1_000))
        _ = machine.childExited(pid: 42, .exited(code: 1), now: 3_000)
        #expect(machine.becameReady(now: 3_010).isEmpty)
        #expect(machine.phase == .backingOff(until: 3_100))
    }

    // An exit while ready under policy always: runtimeDown, backoff of initialBackoff, spawn exactly at the deadline.
    @Test func exitWhileReadyBacksOffThenRespawns() {
        var machine = readyMachine(.always)
        let actions = machine.childExited(pid: 42, .exited(code: 1), now: 3_000)
        #expect(withoutLogs(actions) == [.runtimeDown])
        #expect(machine.phase == .backingOff(until: 3_100))
        #expect(machine.pid == nil)
        #expect(machine.lastExit == .exited(code: 1))
        #expect(machine.nextDeadline == 3_100)
        #expect(machine.tick(now: 3_099).isEmpty)
        #expect(machine.restarts == 0)
        #expect(machine.tick(now: 3_100) == [.spawn])
        #expect(machine.restarts == 1)
        _ = machine.spawned(pid: 43, now: 3_101)
        #expect(machine.phase == .starting(pid: 43, since: 3_101))
    }

    // Quick failures double the backoff each time, capped at maximumBackoff.
    @Test func quickFailuresDoubleBackoffUpToMaximum() {
        var machine = makeMachine(.always, initialBackoff: 100, maximumBackoff: 800)
        _ = machine.start()
        var now: UInt64 = 0
        var waits: [UInt64] = []
        for pid in Int32(1)...6 {
            _ = machine.spawned(pid: pid, now: now)
            _ = machine.becameReady(now: now + 10)
            now += 20
            _ = machine.childExited(pid: pid, .exited(code: 1), now: now)
            guard case .backingOff(let until) = machine.phase else {
                Issue.record("expected backingOff, got \(machine.phase)")
                return
            }
            waits.append(until - now)
            now = until
            #expect(machine.tick(now: now) == [.spawn])
        }
        #expect(waits == [100, 200, 400, 800, 800, 800])
        #expect(machine.restarts == 6)
    }

    // A runtime up at least stableAfter (from its spawn) resets the backoff; one up 1 ms less does not.
    @Test func stableRunResetsBackoff() {
        func waitAfter(ranFor: UInt64) -> UInt64? {
            var machine = makeMachine(.always, initialBackoff: 100, maximumBackoff: 10_000, stableAfter: 5_000)
            var now: UInt64 = 0
            for pid in Int32(1)...3 {  // three quick failures: next backoff 800
                _ = machine.spawned(pid: pid, now: now)
                _ = machine.childExited(pid: pid, .exited(code: 1), now: now + 5)
                now += 1_000
            }
            _ = machine.spawned(pid: 9, now: now)
            _ = machine.becameReady(now: now + 100)
            _ = machine.childExited(pid: 9, .exited(code: 1), now: now + ranFor)
            guard case .backingOff(let until) = machine.phase else { return nil }
            return until - (now + ranFor)
        }
        #expect(waitAfter(ranFor: 4_999) == 800)
        #expect(waitAfter(ranFor: 5_000) == 100)
    }

    // Policy exit: the proxy exits with the runtime's shell status (code, or 128 + signal).
    @Test(arguments: [(ProcessExit.exited(code: 0), Int32(0)), (.exited(code: 3), 3), (.signaled(signal: 9), 137),
                      (.signaled(signal: 15), 143)])
    func policyExitExitsWithStatus(exit: ProcessExit, status: Int32) {
        var machine = readyMachine(.exit)
        let actions = machine.childExited(pid: 42, exit, now: 2_000)
        #expect(withoutLogs(actions) == [.runtimeDown, .exitProxy(status: status)])
        #expect(machine.phase == .finished(status: status))
        #expect(machine.lastExit == exit)
        #expect(machine.nextDeadline == nil)
        #expect(machine.restarts == 0)
    }

    // The exit of another pid (an orphan) changes nothing.
    @Test func exitOfAnotherPIDIgnored() {
        var machine = readyMachine()
        #expect(machine.childExited(pid: 99, .exited(code: 1), now: 2_000).isEmpty)
        #expect(machine.phase == .ready(pid: 42, since: 1_000))
        #expect(machine.lastExit == nil)
        var fresh = makeMachine()
        #expect(fresh.childExited(pid: 0, .exited(code: 1), now: 1).isEmpty)
        #expect(fresh.phase == .notStarted)
    }

    // spawnFailed is handled like an exit with status 127, under either policy.
    @Test func spawnFailedIsExit127() {
        var always = makeMachine(.always)
        _ = always.start()
        #expect(withoutLogs(always.spawnFailed("ENOENT", now: 5)) == [.runtimeDown])
        #expect(always.phase == .backingOff(until: 105))
        #expect(always.lastExit == .exited(code: 127))
        var exit = makeMachine(.exit)
        _ = exit.start()
        #expect(withoutLogs(exit.spawnFailed("ENOENT", now: 5)) == [.runtimeDown, .exitProxy(status: 127)])
        #expect(exit.phase == .finished(status: 127))
    }

    // A requested restart: runtimeDown + SIGTERM to the group, SIGKILL once at killAt, then a fresh spawn.
    @Test func restartRequestedStopsThenRespawns() {
        var machine = readyMachine(.always, stopGrace: 2_000)
        let actions = machine.restartRequested("request timeout", now: 5_000)
        #expect(withoutLogs(actions) == [.runtimeDown, .signalGroup(pid: 42, signal: sigterm)])
        #expect(machine.phase == .stopping(pid: 42, killAt: 7_000, then: .restart))
        #expect(machine.nextDeadline == 7_000)
        #expect(machine.restartRequested("again", now: 5_500).isEmpty)
        #expect(machine.phase == .stopping(pid: 42, killAt: 7_000, then: .restart))
        #expect(machine.tick(now: 6_999).isEmpty)
        #expect(withoutLogs(machine.tick(now: 7_000)) == [.signalGroup(pid: 42, signal: sigkill)])
        #expect(machine.tick(now: 9_000).isEmpty)  // SIGKILL is sent once
        let exit = machine.childExited(pid: 42, .signaled(signal: 9), now: 7_010)
        #expect(withoutLogs(exit) == [.runtimeDown, .spawn])
        #expect(machine.restarts == 1)
        #expect(machine.lastExit == .signaled(signal: 9))
        _ = machine.spawned(pid: 43, now: 7_011)
        #expect(machine.phase == .starting(pid: 43, since: 7_011))
    }

    // A runtime that stops within the grace is respawned at once (no backoff) and never killed; also while starting.
    @Test func restartRequestedWhileStartingExitsBeforeKill() {
        var machine = makeMachine(.exit, stopGrace: 1_000)
        _ = machine.start()
        _ = machine.spawned(pid: 42, now: 0)
        #expect(withoutLogs(machine.restartRequested("stuck", now: 100)) == [.runtimeDown, .signalGroup(pid: 42, signal: sigterm)])
        #expect(withoutLogs(machine.childExited(pid: 42, .signaled(signal: 15), now: 200)) == [.runtimeDown, .spawn])
        #expect(machine.restarts == 1)
    }

    // restartRequested with no runtime (before start, backing off, finished) does nothing.
    @Test func restartRequestedWithoutRuntimeIgnored() {
        var machine = makeMachine()
        #expect(machine.restartRequested("x", now: 0).isEmpty)
        machine = readyMachine()
        _ = machine.childExited(pid: 42, .exited(code: 1), now: 2_000)
        #expect(machine.restartRequested("x", now: 2_010).isEmpty)
        #expect(machine.phase == .backingOff(until: 2_100))
    }

    // Shutdown while ready (even under policy always): SIGTERM, then the exit ends the proxy with its status.
    @Test func shutdownWhileReadyStopsAndExits() {
        var machine = readyMachine(.always, stopGrace: 3_000)
        let actions = machine.shutdownRequested(now: 4_000)
        #expect(withoutLogs(actions) == [.signalGroup(pid: 42, signal: sigterm)])
        #expect(machine.phase == .stopping(pid: 42, killAt: 7_000, then: .exitProxy))
        #expect(machine.nextDeadline == 7_000)
        #expect(machine.restartRequested("late", now: 4_100).isEmpty)
        #expect(machine.shutdownRequested(now: 4_200).isEmpty)
        let exit = machine.childExited(pid: 42, .signaled(signal: 15), now: 4_500)
        #expect(withoutLogs(exit) == [.runtimeDown, .exitProxy(status: 143)])
        #expect(machine.phase == .finished(status: 143))
        #expect(machine.restarts == 0)
        #expect(machine.shutdownRequested(now: 5_000).isEmpty)
    }

    // Shutdown while starting also stops; a runtime ignoring SIGTERM is killed and the proxy exits 137.
    @Test func shutdownWhileStartingKillsAfterGrace() {
        var machine = makeMachine(.always, stopGrace: 1_000)
        _ = machine.start()
        _ = machine.spawned(pid: 42, now: 0)
        #expect(withoutLogs(machine.shutdownRequested(now: 500)) == [.signalGroup(pid: 42, signal: sigterm)])
        #expect(withoutLogs(machine.tick(now: 1_500)) == [.signalGroup(pid: 42, signal: sigkill)])
        let exit = machine.childExited(pid: 42, .signaled(signal: 9), now: 1_510)
        #expect(withoutLogs(exit) == [.runtimeDown, .exitProxy(status: 137)])
    }

    // Shutdown with no runtime exits at once: 0 if it never ran, else the last exit's status.
    @Test func shutdownWithoutRuntimeExitsAtOnce() {
        var never = makeMachine()
        #expect(never.shutdownRequested(now: 0) == [.exitProxy(status: 0)])
        #expect(never.phase == .finished(status: 0))
        var crashed = readyMachine(.always)
        _ = crashed.childExited(pid: 42, .signaled(signal: 11), now: 2_000)
        #expect(crashed.shutdownRequested(now: 2_050) == [.exitProxy(status: 139)])
        #expect(crashed.phase == .finished(status: 139))
        #expect(crashed.tick(now: 2_100).isEmpty)  // the backoff's spawn no longer happens
        var unstartable = makeMachine(.always)
        _ = unstartable.spawnFailed("ENOENT", now: 0)
        #expect(unstartable.shutdownRequested(now: 10) == [.exitProxy(status: 127)])
    }

    // Shutdown during a restart's stop keeps the kill deadline and turns the restart into an exit.
    @Test func shutdownDuringRestartStopExits() {
        var machine = readyMachine(.always, stopGrace: 2_000)
        _ = machine.restartRequested("stuck", now: 5_000)
        #expect(machine.shutdownRequested(now: 5_500).isEmpty)
        #expect(machine.phase == .stopping(pid: 42, killAt: 7_000, then: .exitProxy))
        let exit = machine.childExited(pid: 42, .exited(code: 0), now: 6_000)
        #expect(withoutLogs(exit) == [.runtimeDown, .exitProxy(status: 0)])
        #expect(machine.phase == .finished(status: 0))
        #expect(machine.restarts == 0)
    }

    // nextDeadline: nil except while backing off (the restart time) and stopping (the kill time).
    @Test func nextDeadlinePerPhase() {
        var machine = makeMachine(.always, stopGrace: 1_000)
        #expect(machine.nextDeadline == nil)  // notStarted
        _ = machine.spawned(pid: 1, now: 0)
        #expect(machine.nextDeadline == nil)  // starting
        _ = machine.becameReady(now: 10)
        #expect(machine.nextDeadline == nil)  // ready
        _ = machine.childExited(pid: 1, .exited(code: 2), now: 20)
        #expect(machine.nextDeadline == 120)  // backingOff
        _ = machine.tick(now: 120)
        _ = machine.spawned(pid: 2, now: 121)
        #expect(machine.nextDeadline == nil)
        _ = machine.shutdownRequested(now: 200)
        #expect(machine.nextDeadline == 1_200)  // stopping
        _ = machine.childExited(pid: 2, .exited(code: 0), now: 300)
        #expect(machine.nextDeadline == nil)  // finished
    }
}

/// A signal while the runtime is stopping ends its grace.
@Suite struct SupervisorHurryTests {
    // hurry() while stopping sends SIGKILL at once; while running it does nothing.
    @Test func hurrySkipsTheGrace() {
        var machine = SupervisorStateMachine(settings: .init(restartPolicy: .always, stopGrace: 10_000))
        _ = machine.start()
        _ = machine.spawned(pid: 42, now: 0)
        #expect(machine.hurry(now: 10).isEmpty)
        _ = machine.becameReady(now: 100)
        _ = machine.shutdownRequested(now: 1_000)
        let actions = machine.hurry(now: 1_500).filter { if case .log = $0 { false } else { true } }
        #expect(actions == [.signalGroup(pid: 42, signal: sigkill)])
        #expect(machine.hurry(now: 1_600).isEmpty)
    }
}

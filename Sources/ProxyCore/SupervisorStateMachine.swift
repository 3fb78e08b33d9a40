import ProxySystem

/// The life of the wrapped runtime as pure decisions: when to start it,
/// restart it, signal it, and when the proxy itself must exit. Times are the
/// loop's milliseconds, passed in; the shell (`RuntimeSupervisor`) carries
/// out the actions.
public struct SupervisorStateMachine: Sendable {
    /// What to do when the runtime exits on its own.
    public enum RestartPolicy: String, Sendable, CaseIterable {
        /// Start it again, after a backoff that grows with quick failures.
        case always
        /// Exit the proxy with the runtime's status (the platform restarts the container).
        case exit
    }

    public struct Settings: Sendable, Equatable {
        public var restartPolicy: RestartPolicy
        /// First backoff before a restart; doubles on each quick failure.
        public var initialBackoff: UInt64 = 100
        public var maximumBackoff: UInt64 = 10_000
        /// A runtime up this long resets the backoff.
        public var stableAfter: UInt64 = 10_000
        /// SIGTERM to SIGKILL.
        public var stopGrace: UInt64

        public init(restartPolicy: RestartPolicy, stopGrace: UInt64) {
            self.restartPolicy = restartPolicy
            self.stopGrace = stopGrace
        }
    }

    public enum Phase: Equatable, Sendable {
        case notStarted
        /// Spawned; the upstream does not answer yet.
        case starting(pid: Int32, since: UInt64)
        case ready(pid: Int32, since: UInt64)
        /// Waiting out a backoff before starting again.
        case backingOff(until: UInt64)
        /// SIGTERM sent; SIGKILL at `killAt` unless it exits first (`.max`: SIGKILL sent).
        case stopping(pid: Int32, killAt: UInt64, then: AfterStop)
        /// The proxy is exiting with this status.
        case finished(status: Int32)
    }

    public enum AfterStop: Equatable, Sendable { case restart, exitProxy }

    public enum Action: Equatable, Sendable {
        case spawn
        case signalGroup(pid: Int32, signal: Signal)
        /// The upstream answers: release waiting requests; ms from spawn.
        case runtimeReady(startupMilliseconds: UInt64)
        /// The runtime is gone: fail in-flight requests, hold new ones, drop pooled connections.
        case runtimeDown
        case log(String)
        case exitProxy(status: Int32)
    }

    public let settings: Settings
    public private(set) var phase = Phase.notStarted
    public private(set) var restarts = 0
    public private(set) var lastExit: ProcessExit?
    private var backoff: UInt64
    private var shuttingDown = false

    public init(settings: Settings) {
        self.settings = settings
        backoff = settings.initialBackoff
    }

    public var pid: Int32? {
        switch phase {
        case .starting(let pid, _), .ready(let pid, _), .stopping(let pid, _, _): pid
        default: nil
        }
    }

    public mutating func start() -> [Action] { [.spawn] }

    public mutating func spawned(pid: Int32, now: UInt64) -> [Action] {
        phase = .starting(pid: pid, since: now)
        return [.log("runtime started (pid \(pid))")]
    }

    public mutating func spawnFailed(_ reason: String, now: UInt64) -> [Action] {
        afterEnd(.exited(code: 127), reason: "runtime could not be started: \(reason)", now: now)
    }

    public mutating func becameReady(now: UInt64) -> [Action] {
        guard case .starting(let pid, let since) = phase else { return [] }
        phase = .ready(pid: pid, since: since)
        let startup = now - since
        return [.runtimeReady(startupMilliseconds: startup), .log("runtime ready after \(startup) ms (pid \(pid))")]
    }

    public mutating func childExited(pid exitedPID: Int32, _ exit: ProcessExit, now: UInt64) -> [Action] {
        guard exitedPID == pid else { return [] }
        lastExit = exit
        if case .stopping(_, _, let then) = phase {
            if then == .restart && !shuttingDown {
                restarts += 1
                return [.runtimeDown, .log("runtime \(exit); starting it again"), .spawn]
            }
            phase = .finished(status: exit.shellStatus)
            return [.runtimeDown, .log("runtime \(exit)"), .exitProxy(status: exit.shellStatus)]
        }
        var ranFor: UInt64 = 0
        if case .ready(_, let since) = phase { ranFor = now - since }
        if ranFor >= settings.stableAfter { backoff = settings.initialBackoff }
        return afterEnd(exit, reason: "runtime \(exit)", now: now)
    }

    private mutating func afterEnd(_ exit: ProcessExit, reason: String, now: UInt64) -> [Action] {
        lastExit = exit
        if shuttingDown || settings.restartPolicy == .exit {
            phase = .finished(status: exit.shellStatus)
            return [.runtimeDown, .log("\(reason); exiting with status \(exit.shellStatus)"), .exitProxy(status: exit.shellStatus)]
        }
        let wait = backoff
        backoff = min(backoff * 2, settings.maximumBackoff)
        phase = .backingOff(until: now + wait)
        return [.runtimeDown, .log("\(reason); restarting in \(wait) ms")]
    }

    /// The timeout policy asks for a fresh runtime (a function is stuck).
    public mutating func restartRequested(_ reason: String, now: UInt64) -> [Action] {
        guard !shuttingDown, let pid else { return [] }
        if case .stopping = phase { return [] }
        phase = .stopping(pid: pid, killAt: now + settings.stopGrace, then: .restart)
        return [.runtimeDown, .log("restarting runtime: \(reason)"), .signalGroup(pid: pid, signal: .terminate)]
    }

    /// The drain is over: stop the runtime, then exit with its status.
    public mutating func shutdownRequested(now: UInt64) -> [Action] {
        shuttingDown = true
        switch phase {
        case .starting(let pid, _), .ready(let pid, _):
            phase = .stopping(pid: pid, killAt: now + settings.stopGrace, then: .exitProxy)
            return [.log("stopping runtime (pid \(pid)) with SIGTERM"), .signalGroup(pid: pid, signal: .terminate)]
        case .stopping(let pid, let killAt, _):
            phase = .stopping(pid: pid, killAt: killAt, then: .exitProxy)
            return []
        case .notStarted, .backingOff:
            let status = lastExit?.shellStatus ?? 0
            phase = .finished(status: status)
            return [.exitProxy(status: status)]
        case .finished:
            return []
        }
    }

    /// Stopping and asked to hurry: the grace ends now.
    public mutating func hurry(now: UInt64) -> [Action] {
        // killAt == .max: SIGKILL was sent already.
        guard case .stopping(let pid, let killAt, let then) = phase, killAt > now, killAt != .max else { return [] }
        phase = .stopping(pid: pid, killAt: now, then: then)
        return tick(now: now)
    }

    public var nextDeadline: UInt64? {
        switch phase {
        case .backingOff(let until): until
        case .stopping(_, let killAt, _): killAt == .max ? nil : killAt
        default: nil
        }
    }

    public mutating func tick(now: UInt64) -> [Action] {
        switch phase {
        case .backingOff(let until) where now >= until:
            restarts += 1
            return [.spawn]
        case .stopping(let pid, let killAt, let then) where now >= killAt:
            phase = .stopping(pid: pid, killAt: UInt64.max, then: then)
            return [.log("runtime (pid \(pid)) did not stop within \(settings.stopGrace) ms: SIGKILL"),
                    .signalGroup(pid: pid, signal: .kill)]
        default:
            return []
        }
    }
}

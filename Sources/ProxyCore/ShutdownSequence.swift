/// The order of a graceful stop, as Kubernetes needs it, in pure decisions:
///
/// 1. SIGTERM: readiness turns 503 at once; new connections are still
///    accepted for the drain delay, while endpoints stop sending traffic;
///    every response now says `Connection: close`.
/// 2. Then the listener closes and idle connections are closed; in-flight
///    requests have the shutdown timeout (`SHUTDOWN_TIMEOUT`) to finish.
/// 3. When none is left, or the timeout passes (then the rest are cut), the
///    runtime is stopped (SIGTERM, SIGKILL after its grace), and the proxy
///    exits with its status.
///
/// A second SIGTERM or SIGINT hurries: straight to step 3; one more while the
/// runtime is stopping skips its grace (SIGKILL).
struct ShutdownSequence: Equatable {
    enum Phase: Equatable {
        case serving
        case announcing(until: UInt64)
        case draining(deadline: UInt64)
        case stoppingRuntime
    }

    enum Step: Equatable {
        case closeListeners
        case closeIdleConnections
        case closeAllConnections
        case stopRuntime
        /// Skip the runtime's grace: SIGKILL now.
        case killRuntime
        case log(String)
    }

    let drainDelay: UInt64
    let shutdownTimeout: UInt64
    private(set) var phase = Phase.serving

    init(drainDelay: UInt64, shutdownTimeout: UInt64) {
        self.drainDelay = drainDelay
        self.shutdownTimeout = shutdownTimeout
    }

    var isDraining: Bool { phase != .serving }

    mutating func signalReceived(_ name: String, now: UInt64, openConnections: Int) -> [Step] {
        switch phase {
        case .serving:
            phase = .announcing(until: now + drainDelay)
            return [.log("\(name): draining; readiness now 503, accepting new connections for \(drainDelay) ms more")]
                + tick(now: now, openConnections: openConnections)
        case .announcing, .draining:
            phase = .stoppingRuntime
            return [.log("second \(name): closing \(openConnections) connection(s) now"), .closeListeners, .closeAllConnections, .stopRuntime]
        case .stoppingRuntime:
            return [.log("\(name) while stopping the runtime: SIGKILL"), .killRuntime]
        }
    }

    mutating func tick(now: UInt64, openConnections: Int) -> [Step] {
        switch phase {
        case .announcing(let until) where now >= until:
            phase = .draining(deadline: now + shutdownTimeout)
            return [.log("listener closed; waiting up to \(shutdownTimeout) ms for \(openConnections) connection(s)"),
                    .closeListeners, .closeIdleConnections] + connectionsChanged(openConnections: openConnections)
        case .draining(let deadline) where now >= deadline:
            phase = .stoppingRuntime
            return [.log("shutdown timeout: closing \(openConnections) connection(s) still open"), .closeAllConnections, .stopRuntime]
        default:
            return []
        }
    }

    mutating func connectionsChanged(openConnections: Int) -> [Step] {
        guard case .draining = phase, openConnections == 0 else { return [] }
        phase = .stoppingRuntime
        return [.log("all requests finished"), .stopRuntime]
    }

    var nextDeadline: UInt64? {
        switch phase {
        case .announcing(let until): until
        case .draining(let deadline): deadline
        default: nil
        }
    }
}

import ProxyHTTP
import ProxySystem

/// Starts the runtime, watches it, restarts or stops it: the I/O shell of
/// `SupervisorStateMachine`. It also reaps orphans (the proxy is the
/// subreaper, often PID 1), forwards signals the runtime should see, and
/// probes the upstream until a new runtime answers.
final class RuntimeSupervisor: SignalWatcherDelegate, UpstreamClientDelegate {
    private let server: ProxyServer  // lives as long as the process
    private var machine: SupervisorStateMachine
    private let command: [String]
    private let loop: EventLoop
    private let deadlineTimer: Timer
    private let probeTimer: Timer
    private var watchers: [SignalWatcher] = []
    private var probe: UpstreamClient?
    private var lastProgressLog: UInt64 = 0
    private(set) var orphansReaped = 0
    private(set) var lastStartupMilliseconds: UInt64?

    /// Signals passed on to the runtime's process group, as an init would.
    static let forwardedSignals: [Signal] = [.hangup, .user1, .user2, .quit, .windowChange]
    private static let probeInterval: UInt64 = 50
    private static let progressInterval: UInt64 = 2_000

    init(server: ProxyServer, command: [String]) throws(UVError) {
        self.server = server
        self.command = command
        loop = server.loop
        machine = SupervisorStateMachine(settings: .init(restartPolicy: server.config.restartPolicy,
                                                         stopGrace: server.config.stopGraceMilliseconds))
        deadlineTimer = Timer(loop: loop)
        probeTimer = Timer(loop: loop)
        deadlineTimer.delegate = TimerAction { [unowned self] in carryOut(machine.tick(now: loop.nowMilliseconds)) }
        probeTimer.delegate = TimerAction { [unowned self] in startProbe() }
        // SIGCHLD: a child exited, the runtime or an orphan re-parented to us.
        let childWatcher = try SignalWatcher(loop: loop, signal: .child)
        childWatcher.delegate = self
        watchers.append(childWatcher)
        for signal in Self.forwardedSignals {
            let watcher = try SignalWatcher(loop: loop, signal: signal)
            watcher.delegate = self
            watchers.append(watcher)
        }
    }

    var restarts: Int { machine.restarts }
    var lastExit: ProcessExit? { machine.lastExit }
    var isRunning: Bool { machine.pid != nil }
    var runtimePID: Int32? { machine.pid }
    /// Times the runtime was killed by the out-of-memory killer.
    private(set) var oomKills = 0
    /// The cgroup's memory when the runtime last started (its OOM kill count).
    private var memoryAtSpawn = CgroupMemory()

    func start() {
        if !ChildProcesses.becomeSubreaper() { server.log("could not become child subreaper; orphans of the runtime may stay zombies") }
        carryOut(machine.start())
    }

    /// The drain is over: stop the runtime; the proxy exits with its status.
    func shutdown() { carryOut(machine.shutdownRequested(now: loop.nowMilliseconds)) }

    /// A further signal while stopping: no more grace.
    func hurry() { carryOut(machine.hurry(now: loop.nowMilliseconds)) }

    /// A function is stuck (timeout policy `restart`).
    func restart(reason: String) { carryOut(machine.restartRequested(reason, now: loop.nowMilliseconds)) }

    private func carryOut(_ actions: [SupervisorStateMachine.Action]) {
        for action in actions {
            switch action {
            case .spawn:
                spawn()
            case .signalGroup(let pid, let signal):
                ChildProcesses.signalGroup(pid, signal)
            case .runtimeReady(let startup):
                lastStartupMilliseconds = startup
                server.runtimeBecameReady()
            case .runtimeDown:
                stopProbing()
                server.runtimeWentDown()
            case .log(let line):
                server.log(line)
            case .exitProxy(let status):
                server.exitProcess(status: status)
            }
        }
        if let deadline = machine.nextDeadline {
            let now = loop.nowMilliseconds
            deadlineTimer.start(milliseconds: deadline > now ? deadline - now : 0)
        } else {
            deadlineTimer.stop()
        }
    }

    private func spawn() {
        // Something else holds the runtime's port (a stray process, a
        // previous runtime's surviving child): the runtime could not bind it,
        // and readiness probes would reach that process instead. Counted as
        // a failed start: retried with back-off, never ready meanwhile.
        if case .tcp(let address) = server.config.upstream, address.isLoopback, address.isInUse() {
            carryOut(machine.spawnFailed("\(address) is already in use by another process", now: loop.nowMilliseconds))
            return
        }
        do {
            memoryAtSpawn = CgroupMemory.read()
            let pid = try ChildProcesses.spawn(command, environment: server.config.runtimeEnvironment)
            let now = loop.nowMilliseconds
            lastProgressLog = now
            carryOut(machine.spawned(pid: pid, now: now))
            probeTimer.start(milliseconds: 0)
        } catch {
            carryOut(machine.spawnFailed(error.description, now: loop.nowMilliseconds))
        }
    }

    // MARK: Signals

    func signalWatcher(_ watcher: SignalWatcher, didReceive signal: Signal) {
        if signal == .child {
            ChildProcesses.reapExited { pid, exit in
                if pid == machine.pid {
                    noteIfKilledByOOM(exit)
                    carryOut(machine.childExited(pid: pid, exit, now: loop.nowMilliseconds))
                } else {
                    orphansReaped += 1
                }
            }
            return
        }
        if let pid = machine.pid, Self.forwardedSignals.contains(signal) {
            server.log("\(signal.name): passed on to the runtime (pid \(pid))")
            ChildProcesses.signalGroup(pid, signal)
        }
    }

    /// A SIGKILL with the cgroup's OOM count risen: say so, with the
    /// container's peak (or its limit), and count it.
    private func noteIfKilledByOOM(_ exit: ProcessExit) {
        let now = CgroupMemory.read()
        guard CgroupMemory.killedByOOM(exit, before: memoryAtSpawn, after: now) else { return }
        oomKills += 1
        if let bytes = now.peakBytes ?? now.limitBytes {
            server.log("runtime killed by the OOM killer at \(bytes >> 20) MiB")
        } else {
            server.log("runtime killed by the OOM killer")
        }
    }

    // MARK: Readiness probe: connect (and ask the ready path) until it answers

    private func startProbe() {
        guard case .starting(_, let since) = machine.phase, probe == nil else { return }
        let now = loop.nowMilliseconds
        if now >= lastProgressLog + Self.progressInterval {
            lastProgressLog = now
            server.log("waiting for the runtime to answer on \(server.config.upstream) (\((now - since) / 1000) s)")
        }
        // Outside the pool: a probe is no upstream connection of the proxy's traffic.
        probe = UpstreamClient(loop: loop, target: server.config.upstream, limits: server.config.headLimits, delegate: self)
    }

    private func stopProbing() {
        probe?.close()
        probe = nil
        probeTimer.stop()
    }

    private func probeFailed() {
        probe?.close()
        probe = nil
        probeTimer.start(milliseconds: Self.probeInterval)
    }

    private func probeSucceeded() {
        probe?.close()
        probe = nil
        carryOut(machine.becameReady(now: loop.nowMilliseconds))
    }

    func upstreamClientDidConnect(_ client: UpstreamClient) {
        guard let path = server.config.readyPath else { return probeSucceeded() }
        client.beginRequest(Array("GET \(path) HTTP/1.1\r\nHost: localhost\r\nUser-Agent: runtime-proxy-ready\r\nConnection: close\r\n\r\n".utf8),
                            reused: false)
    }

    /// The ready path's final status decides; the body is not read.
    func upstreamClient(_ client: UpstreamClient, didReceiveHead head: MessageHead) -> BodyExpectation {
        let status = head.statusCode
        if status >= 200 { (200..<300).contains(status) ? probeSucceeded() : probeFailed() }
        return .none
    }

    func upstreamClient(_ client: UpstreamClient, didFinishResponse extraBytes: Bool) { probeFailed() }
    func upstreamClient(_ client: UpstreamClient, didSwitchProtocols leftover: RawSpan, from offset: Int) { probeFailed() }
    func upstreamClient(_ client: UpstreamClient, didFail failure: UpstreamFailure) { probeFailed() }
}

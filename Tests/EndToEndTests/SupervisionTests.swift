import Foundation
import Testing

/// The proxy as PID 1 and supervisor: it starts the runtime, restarts it,
/// reaps orphans, drains without losing requests and passes exit codes on.
@Suite struct SupervisionTests {
    static let runtimeScript = Harness.fixtures.appendingPathComponent("supervised_runtime.py").path

    /// The proxy with a supervised runtime on a fresh port.
    private func proxy(runtime: [String]? = nil, port chosen: Int? = nil, extra: [String] = []) throws -> (ProxyUnderTest, Int) {
        let port = try chosen ?? FreePort.pick()
        let command = runtime ?? [Harness.python, Self.runtimeScript, "\(port)"]
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:\(port)", arguments: extra + ["--"] + command)
        return (proxy, port)
    }

    private func metric(_ name: String, _ proxy: ProxyUnderTest) throws -> Double? {
        let text = try curl(["\(proxy.baseURL)/metrics"]).output
        return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
    }

    /// Polls `body` every 50 ms, at most `seconds`, until it is true.
    private func eventually(_ seconds: Double = 20, _ body: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try body() { return true }
            usleep(50_000)
        }
        return try body()
    }

    // /metrics reports the runtime's process tree (the runtime and the child it started: two processes, their memory, CPU and descriptors).
    @Test func runtimeTreeResourcesAreExported() throws {
        let port = try FreePort.pick()
        let script = "sleep 120 & exec \(Harness.python) \(Self.runtimeScript) \(port)"
        let (proxy, _) = try proxy(runtime: ["/bin/sh", "-c", script], port: port)
        #expect(try curl(["\(proxy.baseURL)/first"]).output == "done")
        let processes = try #require(try metric("runtime_proxy_runtime_processes", proxy))
        #expect(processes >= 2, "\(processes)")
        #expect((try metric("runtime_proxy_runtime_resident_memory_bytes", proxy) ?? 0) > 1_000_000)
        #expect(try metric("runtime_proxy_runtime_cpu_seconds_total", proxy) != nil)
        #expect((try metric("runtime_proxy_runtime_open_fds", proxy) ?? 0) >= 3)
        #expect(try metric("runtime_proxy_runtime_oom_kills_total", proxy) == 0)
    }

    // Requests sent before the runtime answers wait for it instead of failing.
    @Test func requestsWaitForTheRuntime() throws {
        let (proxy, _) = try proxy()
        let result = try curl(["-w", " %{http_code}", "\(proxy.baseURL)/first"])
        #expect(result.output == "done 200")
        #expect(proxy.process.waitForLine(onStderr: true) { $0.contains("runtime ready after") } != nil)
    }

    // A client that sends its request and half-closes while the request waits for the runtime still gets the answer, then the close.
    @Test func halfClosedClientWaitingForTheRuntimeIsAnswered() throws {
        let port = try FreePort.pick()
        // The runtime listens only after a second: the request waits in the queue.
        let (proxy, _) = try proxy(runtime: ["/bin/sh", "-c", "sleep 1; exec \(Harness.python) \(Self.runtimeScript) \(port)"], port: port)
        let client = try RawClient(port: proxy.port)
        try client.send("GET /half HTTP/1.1\r\nHost: x\r\n\r\n")
        client.shutdownWrite()
        let response = try client.readResponse()
        #expect(response.status == 200 && response.bodyText == "done")
        #expect(client.isClosedByPeer())
    }

    // An orphan the runtime leaves behind is reaped: no zombie remains.
    @Test func orphansAreReaped() throws {
        let port = try FreePort.pick()
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("orphan-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        let script = "(sleep 0.2 & echo $! > \(pidFile)); exec \(Harness.python) \(Self.runtimeScript) \(port)"
        let (proxy, _) = try proxy(runtime: ["/bin/sh", "-c", script], port: port)
        #expect(try curl(["\(proxy.baseURL)/"]).output == "done")
        let orphan = try #require(try eventually { FileManager.default.fileExists(atPath: pidFile) } ? String(contentsOfFile: pidFile, encoding: .utf8) : nil)
        let pid = orphan.trimmingCharacters(in: .whitespacesAndNewlines)
        // A zombie keeps its /proc entry until reaped.
        #expect(eventually { !FileManager.default.fileExists(atPath: "/proc/\(pid)") })
        #expect(try eventually { try metric("runtime_proxy_orphans_reaped_total", proxy) == 1 })
    }

    // SIGTERM during 50 slow requests: all 50 get 200, the runtime is signalled only after, and its status is the proxy's.
    @Test func sigtermDrainsInFlightRequests() throws {
        let (proxy, _) = try proxy(extra: ["--drain-delay", "0.2"])
        #expect(try curl(["\(proxy.baseURL)/warm"]).output == "done")
        let clients = try (0..<50).map { _ in try RawClient(port: proxy.port, receiveTimeout: 30) }
        for (index, client) in clients.enumerated() { try client.send("GET /sleep?ms=1500&i=\(index) HTTP/1.1\r\nHost: x\r\n\r\n") }
        #expect(try eventually { try metric("runtime_proxy_requests_in_flight", proxy) == 50 })
        proxy.process.signal(SIGTERM)
        var ok = 0
        for client in clients where try client.readResponse().status == 200 { ok += 1 }
        #expect(ok == 50)
        #expect(proxy.process.waitForLine(timeout: 30) { $0.hasPrefix("SIGTERM ") } == "SIGTERM active=0 completed=51")
        #expect(proxy.process.waitForExit(timeout: 30) == 0)
    }

    // kill -9 of the runtime: it is started again, service resumes, and the restart is counted.
    @Test func killedRuntimeIsRestarted() throws {
        let (proxy, _) = try proxy()
        #expect(try curl(["\(proxy.baseURL)/"]).output == "done")
        let line = try #require(proxy.process.waitForLine(onStderr: true) { $0.contains("runtime started (pid ") })
        let pid = try #require(Int32(line.split(separator: "pid ").last?.dropLast() ?? ""))
        kill(pid, SIGKILL)
        #expect(proxy.process.waitForLine(onStderr: true) { $0.contains("runtime killed by signal 9") } != nil)
        #expect(try eventually { try curl(["-w", " %{http_code}", "\(proxy.baseURL)/again"]).output == "done 200" })
        #expect(try metric("runtime_proxy_runtime_restarts_total", proxy) == 1)
        #expect(try metric("runtime_proxy_runtime_last_exit_status", proxy) == 137)
        #expect(try metric("runtime_proxy_runtime_up", proxy) == 1)
    }

    // kill -9 while clients keep sending: requests fail fast (502/503, or cut if their response had begun; never hang) until the new runtime answers, then all succeed.
    @Test func restartUnderLoad() throws {
        let (proxy, _) = try proxy()
        #expect(try curl(["\(proxy.baseURL)/"]).output == "done")
        let line = try #require(proxy.process.waitForLine(onStderr: true) { $0.contains("runtime started (pid ") })
        let pid = try #require(Int32(line.split(separator: "pid ").last?.dropLast() ?? ""))
        let statuses = LoadRecorder()
        let load = Thread {
            for index in 0..<3_000 where !statuses.stopped {
                let status = (try? RawClient(port: proxy.port, receiveTimeout: 10)).flatMap { client in
                    (try? client.send("GET /sleep?ms=2&i=\(index) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).flatMap {
                        try? client.readResponse().status
                    }
                } ?? 0
                statuses.record(status)
            }
            statuses.finish()
        }
        load.start()
        #expect(eventually { statuses.count >= 20 })
        kill(pid, SIGKILL)
        #expect(proxy.process.waitForLine(onStderr: true) { $0.contains("runtime ready after") && !$0.contains("pid \(pid)") } != nil)
        let afterReady = statuses.count
        #expect(eventually { statuses.count >= afterReady + 50 })
        statuses.stop()
        #expect(eventually { statuses.isFinished })
        let all = statuses.all
        #expect(all[(afterReady + 5)...].allSatisfy { $0 == 200 }, "after the restart: \(Set(all[afterReady...]))")
        // A request whose response had begun when the runtime died is cut
        // (0 here: the client sees an incomplete response); at most the few in flight.
        #expect(all.allSatisfy { [0, 200, 502, 503].contains($0) }, "statuses seen: \(Set(all))")
        #expect(all.filter { $0 == 0 }.count <= 4, "statuses seen: \(all.filter { $0 != 200 })")
        #expect(try metric("runtime_proxy_runtime_restarts_total", proxy) == 1)
    }

    // SIGHUP to the proxy reaches the runtime (as do SIGUSR1, SIGUSR2, SIGQUIT and SIGWINCH).
    @Test func signalsArePassedOn() throws {
        let (proxy, _) = try proxy()
        #expect(try curl(["\(proxy.baseURL)/"]).output == "done")
        proxy.process.signal(SIGHUP)
        #expect(proxy.process.waitForLine { $0 == "SIGHUP received" } != nil)
        #expect(proxy.process.waitForLine(onStderr: true) { $0.contains("SIGHUP: passed on to the runtime") } != nil)
    }

    // A runtime that never answers: requests get 503 with Retry-After after the start timeout, and /healthz says starting.
    @Test func runtimeNeverReady() throws {
        let (proxy, _) = try proxy(runtime: ["/bin/sleep", "60"], extra: ["--start-timeout", "0.5"])
        let client = try RawClient(port: proxy.port)
        try client.send("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 503)
        #expect(response.header("Retry-After") == "1")
        #expect(response.bodyText == "runtime not ready in time\n")
        #expect(try curl(["\(proxy.baseURL)/healthz"]).output.hasPrefix("starting"))
    }

    // With --restart-policy exit the proxy exits with the runtime's status: its code, or 128+signal.
    @Test(arguments: [("exit 3", Int32(3)), ("kill -KILL $$", Int32(137))])
    func exitStatusIsPassedOn(script: String, status: Int32) throws {
        let (proxy, _) = try proxy(runtime: ["/bin/sh", "-c", script], extra: ["--restart-policy", "exit"])
        #expect(proxy.process.waitForExit(timeout: 20) == status)
    }

    // FUNC_PROCESS is run through /bin/sh -c, as the Kubeless proxy did.
    @Test func funcProcessRunsThroughTheShell() throws {
        let port = try FreePort.pick()
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:\(port)", environment: ["FUNC_PROCESS": "exec \(Harness.python) \(Self.runtimeScript) $((\(port)))"])
        #expect(try curl(["\(proxy.baseURL)/"]).output == "done")
    }

    // FUNC_PROCESS without exec (as images made for the Kubeless proxy write it): the process the proxy starts and reports is the runtime itself, and its own exit status after a SIGTERM drain (3) is the proxy's.
    @Test func funcProcessRuntimeExitStatusIsTheProxys() throws {
        let port = try FreePort.pick()
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:\(port)",
                                       environment: ["FUNC_PROCESS": "\(Harness.python) \(Self.runtimeScript) \(port) --sigterm-exit 3",
                                                     "PROXY_DRAIN_DELAY": "0"])
        #expect(try curl(["\(proxy.baseURL)/"]).output == "done")
        let line = try #require(proxy.process.waitForLine(onStderr: true) { $0.contains("runtime started (pid ") })
        let pid = try #require(Int32(line.split(separator: "pid ").last?.dropLast() ?? ""))
        // The process itself, not a shell holding it as a child: its argv[0] is Python.
        let arguments = try String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8).split(separator: "\0")
        #expect(arguments.first.map(String.init) == Harness.python, "pid \(pid) is \(arguments)")
        proxy.process.signal(SIGTERM)
        #expect(proxy.process.waitForLine(timeout: 30) { $0.hasPrefix("SIGTERM ") } != nil)
        #expect(proxy.process.waitForExit(timeout: 30) == 3)
        #expect(proxy.process.waitForLine(onStderr: true) { $0.contains("exiting with status 3") } != nil, "\(proxy.process.stderr)")
    }

    // A FUNC_PROCESS that is more than one command (cd, then the runtime) still runs through the shell as written.
    @Test func funcProcessCompoundCommandRuns() throws {
        let port = try FreePort.pick()
        let directory = Harness.fixtures.path
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:\(port)",
                                       environment: ["FUNC_PROCESS": "cd \(directory) && \(Harness.python) supervised_runtime.py \(port)"])
        #expect(try curl(["\(proxy.baseURL)/"]).output == "done")
    }

    // --max-inflight 1 in front of a single-threaded runtime: 200 concurrent clients all get 200, one upstream connection at a time.
    @Test func concurrencyLimitHolds() throws {
        let port = try FreePort.pick()
        let (proxy, _) = try proxy(runtime: [Harness.python, Self.runtimeScript, "\(port)", "--single-threaded"], port: port,
                                   extra: ["--max-inflight", "1", "--log-format", "none"])
        let clients = try (0..<200).map { _ in try RawClient(port: proxy.port, receiveTimeout: 60) }
        for client in clients { try client.send("GET /sleep?ms=5 HTTP/1.1\r\nHost: x\r\n\r\n") }
        var ok = 0
        for client in clients where try client.readResponse().status == 200 { ok += 1 }
        #expect(ok == 200)
        #expect(try curl(["\(proxy.baseURL)/stats"]).output == "max_open=1")
        #expect(try metric("runtime_proxy_queue_rejections_total", proxy) == 0)
    }
}

/// Statuses seen by a load thread, read by the test.
final class LoadRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var statuses: [Int] = []
    private var stopRequested = false
    private var finished = false

    func record(_ status: Int) { lock.withLock { statuses.append(status) } }
    func stop() { lock.withLock { stopRequested = true } }
    func finish() { lock.withLock { finished = true } }
    var stopped: Bool { lock.withLock { stopRequested } }
    var isFinished: Bool { lock.withLock { finished } }
    var count: Int { lock.withLock { statuses.count } }
    var all: [Int] { lock.withLock { statuses } }
}

import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Clients that abuse the proxy's resources: slow heads and bodies, masses of
/// idle or short-lived connections, and a process out of file descriptors.
/// Pacing loops wait on the socket itself (poll), so they end as soon as the
/// proxy answers; every loop is bounded in count.
@Suite struct AbusiveClientTests {
    // Slowloris: a head trickled a byte per 50 ms is cut by the header timeout (started at the first byte, never extended): 408, closed, nothing upstream.
    @Test func slowlorisHeadGets408() throws {
        let upstream = try HostileUpstream()
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--header-timeout", "1"])
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        let head = Array(("GET /slow HTTP/1.1\r\nHost: x\r\n" + (0..<12).map { "X-Slow-\($0): v\r\n" }.joined() + "\r\n").utf8)
        var sent = 0
        // Waiting up to 50 ms for the answer is the pacing.
        while sent < head.count, !isReadable(client.fd, milliseconds: 50) {
            try client.send([head[sent]])
            sent += 1
        }
        #expect(sent < head.count, "the whole head went through, a byte per 50 ms")
        let response = try client.readResponse()
        #expect(response.status == 408 && response.header("Connection") == "close")
        #expect(client.nextRead() == .closed)
        #expect(proxy.process.waitForLines(count: 1) { $0.contains(" 408 ") }.first?.contains("header timeout") == true)
        #expect(try upstream.forwarded().requests.isEmpty)
    }

    // A body trickled at 1 byte/s is cut by the request timeout (not extended per byte): 408, closed; the upstream connection is dropped with the bytes so far.
    @Test func trickledBodyGets408AndDropsTheUpstream() throws {
        let upstream = try HostileUpstream()
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--timeout", "2"])
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("POST /trickle HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        var sent = 0
        while sent < 10, !isReadable(client.fd, milliseconds: 1000) {
            try client.send("b")
            sent += 1
        }
        #expect(sent < 10, "no answer after 10 bytes in 10 s")
        let response = try client.readResponse()
        #expect(response.status == 408 && response.bodyText == "Timeout exceeded\n")
        #expect(client.nextRead() == .closed)
        #expect(upstream.waitFor("EOF 1"))
        let forwarded = try upstream.forwarded()
        #expect(forwarded.problems.isEmpty, "\(forwarded.problems)")
        #expect(forwarded.requests.count == 1 && forwarded.requests.first?.complete == false)
        #expect(forwarded.requests.first.map { $0.body.count <= sent && $0.body.allSatisfy { $0 == 0x62 } } == true)
        let next = try RawClient(port: proxy.port, receiveTimeout: 10)
        try next.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try next.readResponse().status == 200)
        #expect(upstream.connection(servingPath: "/after").map { $0 != 1 } == true)
    }

    // 10,000 idle connections are all accepted; requests on old and new connections succeed; the proxy's RSS is recorded (target under 64 MiB, not asserted).
    @Test func tenThousandIdleConnections() throws {
        raiseOpenFileLimit(to: 12_000)
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--log-format", "none"])
        let pid = proxy.process.process.processIdentifier
        let startRSS = ProcessMemory.residentBytes(pid: pid) ?? 0
        var clients: [RawClient] = []
        clients.reserveCapacity(10_000)
        for _ in 0..<10_000 { clients.append(try RawClient(port: proxy.port, receiveTimeout: 10)) }
        defer { for client in clients { resetOnClose(client.fd) } }
        // Readiness: the proxy holds a descriptor for each.
        #expect(waitUntil(timeout: 20) { openDescriptors(of: pid) >= 10_000 }, "proxy holds \(openDescriptors(of: pid)) descriptors")
        let fresh = try RawClient(port: proxy.port, receiveTimeout: 10)
        for client in [clients[9_999], clients[0], clients[5_000], fresh] {
            try client.send("GET /status/200 HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 200 && response.bodyText == "status 200")
        }
        let rss = ProcessMemory.residentBytes(pid: pid) ?? 0
        print("AbusiveClientTests: proxy RSS \(rss >> 20) MiB with 10,000 idle connections (\(startRSS >> 20) MiB at start)")
        #expect(rss > startRSS)
    }

    // 2,000 clients that connect and close at once (half FIN, half RST): no access-log line, descriptors back to the baseline, and a request still succeeds.
    @Test func connectAndCloseLoop() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let pid = proxy.process.process.processIdentifier
        let baseline = openDescriptors(of: pid)
        let deadline = Date().addingTimeInterval(10)
        for index in 0..<2_000 where Date() < deadline {
            let client = try RawClient(port: proxy.port, receiveTimeout: 1)
            if index.isMultiple(of: 2) { resetOnClose(client.fd) }
        }
        // Readiness: the proxy has seen every close.
        #expect(waitUntil { openDescriptors(of: pid) <= baseline }, "\(openDescriptors(of: pid)) descriptors, \(baseline) before")
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("GET /status/200 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().status == 200)
        #expect(proxy.process.waitForLines(count: 1) { $0.contains("/status/200") }.count == 1)
        #expect(proxy.logLines.count == 1, "\(proxy.logLines)")
        #expect(proxy.process.process.isRunning)
    }

    // Out of descriptors (ulimit -n 64): accept pauses without a spin (< 1.5 s CPU in 2 s), clients wait in the backlog (not reset), an in-flight request finishes, and once descriptors are free the waiting client is served.
    @Test func descriptorExhaustion() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let process = try TestProcess("/bin/sh", ["-c", "ulimit -n 64 && exec \"$0\" \"$@\"", Harness.proxyBinary, "--port", "0",
                                                  "--listen-address", "127.0.0.1", "--upstream", upstream.address, "--drain-delay", "0"])
        let line = try #require(process.waitForLine(onStderr: true) { $0.contains("listening on") })
        let port = try #require(line.split(separator: ",").first?.split(separator: ":").last.flatMap { Int($0) })
        let pid = process.process.processIdentifier
        let baseline = openDescriptors(of: pid)
        let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
        #expect(limits.split(separator: "\n").contains { $0.hasPrefix("Max open files") && $0.split(separator: " ").contains("64") })
        let gate = "fd-\(UUID().uuidString.prefix(8))"
        let inFlight = try RawClient(port: port, receiveTimeout: 10)
        try inFlight.send("GET /gated?id=\(gate) HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(inFlight.readUntil(contains: "first\n") != nil)
        var held: [RawClient] = []
        var waiting: RawClient?
        for _ in 0..<200 where waiting == nil {
            let client = try RawClient(port: port, receiveTimeout: 2)
            try? client.send("GET /status/200 HTTP/1.1\r\nHost: x\r\n\r\n")
            if (try? client.readResponse())?.status == 200 { held.append(client) } else { waiting = client }
        }
        let waitingClient = try #require(waiting, "\(held.count) connections served and never out of descriptors")
        #expect(held.count > 10, "\(held.count) connections served")
        // Two seconds out of descriptors, with clients knocking all the while
        // (each waits 20 ms for an answer, then gives up).
        let cpuBefore = cpuSeconds(of: pid)
        let start = Date()
        var knocks = 0
        for _ in 0..<200 where Date().timeIntervalSince(start) < 2 {
            guard let knock = try? RawClient(port: port, receiveTimeout: 1) else { continue }
            knock.setReceiveTimeout(0.02)
            #expect(knock.nextRead() == .timedOut, "a client past the limit was answered or reset")
            knocks += 1
        }
        #expect(knocks > 10)
        let cpu = cpuSeconds(of: pid) - cpuBefore
        #expect(cpu < 1.5, "the proxy used \(cpu) s of CPU in 2 s out of descriptors")
        #expect(try curl(["http://\(upstream.address)/release?id=\(gate)"]).output == "released")
        #expect(inFlight.readUntil(contains: "\r\n0\r\n\r\n")?.contains("second\n") == true)
        held.removeAll()
        // The client that waited in the backlog all along is served now.
        waitingClient.setReceiveTimeout(10)
        let served = Result { try waitingClient.readResponse() }
        #expect((try? served.get())?.status == 200, "\(served)")
        // Readiness: the proxy has closed the connections it held, but for
        // the two clients still connected (the gated one and the one that
        // waited). Pooled upstream connections close after the upstream idle
        // timeout, 4 s.
        #expect(waitUntil(timeout: 20) { openDescriptors(of: pid) <= baseline + 2 },
                "\(descriptorSummary(of: pid)) still open, \(baseline) at start")
        let after = try RawClient(port: port, receiveTimeout: 10)
        try after.send("GET /status/201 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try after.readResponse().status == 201)
        #expect(process.process.isRunning)
    }
}

/// Raises this process's open-file soft limit to at least `count` (up to the hard limit).
private func raiseOpenFileLimit(to count: rlim_t) {
    var limit = rlimit()
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    guard getrlimit(resource, &limit) == 0, limit.rlim_cur < count else { return }
    limit.rlim_cur = min(count, limit.rlim_max)
    _ = setrlimit(resource, &limit)
}

/// Makes `close` send a reset instead of a FIN (and leave no TIME_WAIT behind).
private func resetOnClose(_ fd: Int32) {
    var option = linger(l_onoff: 1, l_linger: 0)
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
}

private func openDescriptors(of pid: Int32) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
}

/// What `pid`'s open descriptors are, counted by kind ("socket", "pipe", ...), and its descriptor limit: for failure messages.
private func descriptorSummary(of pid: Int32) -> String {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
    var kinds: [String: Int] = [:]
    for name in names {
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(name)")) ?? "?"
        kinds[String(target.prefix { $0 != ":" }), default: 0] += 1
    }
    let limits = (try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)) ?? ""
    let limit = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") } ?? "?"
    return "\(names.count) descriptors (\(kinds.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); \(limit))"
}

/// User plus system CPU time of `pid`, from /proc/PID/stat.
private func cpuSeconds(of pid: Int32) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let fields = stat.split(separator: ")").last?.split(separator: " "), fields.count > 12,
          let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

import Foundation
import Testing

/// A slow or closed stdout never stalls proxying; dropped lines are counted.
@Suite struct StalledStdoutTests {
    /// The proxy with its stdout a pipe this test controls (and does not read).
    final class ProxyWithStdoutPipe {
        let process: ChildProcess
        let stderrFile: URL
        private(set) var port = 0
        /// The read end of the proxy's stdout, or -1 once closed.
        private var stdoutReader: Int32

        init(_ arguments: [String]) throws {
            stderrFile = FileManager.default.temporaryDirectory.appendingPathComponent("proxy-stderr-\(UUID().uuidString)")
            let stdoutPipe = try PipeEnds()
            let null = try SystemCalls.openNull()
            let stderrFD = open(stderrFile.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            do {
                defer { close(null); close(stdoutPipe.write); if stderrFD >= 0 { close(stderrFD) } }
                guard stderrFD >= 0 else { throw HarnessError.io("open \(stderrFile.path): \(errno)") }
                process = try ChildProcess(Harness.proxyBinary, ["--port", "0", "--listen-address", "127.0.0.1"] + arguments,
                                           standardInput: null, standardOutput: stdoutPipe.write, standardError: stderrFD)
            } catch {
                close(stdoutPipe.read)
                throw error
            }
            // Set before anything else can throw: deinit runs from here on.
            stdoutReader = stdoutPipe.read
            var found: Int?
            for _ in 0..<400 where found == nil && process.isRunning {
                let text = (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? ""
                if let line = text.split(separator: "\n").first(where: { $0.contains("listening on") }) {
                    found = line.split(separator: ",").first?.split(separator: ":").last.flatMap { Int($0) }
                } else {
                    usleep(25_000)
                }
            }
            guard let found else { throw HarnessError.notReady("proxy did not start") }
            port = found
        }

        /// The reader goes away: the proxy's writes fail from now on.
        func closeStdoutReader() {
            if stdoutReader >= 0 { close(stdoutReader) }
            stdoutReader = -1
        }

        deinit {
            process.terminate()
            closeStdoutReader()
            try? FileManager.default.removeItem(at: stderrFile)
        }
    }

    /// Sends `count` keep-alive requests on one connection and returns how many got `status`.
    private func send(_ count: Int, to port: Int, expecting status: Int) throws -> Int {
        let client = try RawClient(port: port)
        var answered = 0
        for batch in 0..<(count / 50) {
            var requests = ""
            for index in 0..<50 { requests += "GET /padding-to-make-log-lines-longer-\(batch)-\(index) HTTP/1.1\r\nHost: x\r\n\r\n" }
            try client.send(requests)
            for _ in 0..<50 where try client.readResponse().status == status { answered += 1 }
        }
        return answered
    }

    private func droppedLines(port: Int) throws -> Int {
        let metrics = try curl(["http://127.0.0.1:\(port)/metrics"]).output
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("runtime_proxy_log_lines_dropped_total ") }
        return line.flatMap { Int($0.split(separator: " ")[1]) } ?? -1
    }

    // Nobody reads stdout: every request is still answered, and the lines that did not fit are counted as dropped.
    @Test func unreadStdoutDropsAndCounts() throws {
        let deadPort = try FreePort.pick()
        let proxy = try ProxyWithStdoutPipe(["--upstream", "127.0.0.1:\(deadPort)", "--log-format", "json"])
        // ~5,000 JSON lines of ~400 bytes: more than the pipe (64 KiB) and the 1 MiB queue hold.
        #expect(try send(5_000, to: proxy.port, expecting: 502) == 5_000)
        #expect(try droppedLines(port: proxy.port) > 0)
        #expect(proxy.process.isRunning)
    }

    // The reader closes stdout: proxying goes on and every later line counts as dropped.
    @Test func closedStdoutDropsAndCounts() throws {
        let deadPort = try FreePort.pick()
        let proxy = try ProxyWithStdoutPipe(["--upstream", "127.0.0.1:\(deadPort)"])
        proxy.closeStdoutReader()
        #expect(try send(100, to: proxy.port, expecting: 502) == 100)
        #expect(try send(100, to: proxy.port, expecting: 502) == 100)
        #expect(try droppedLines(port: proxy.port) >= 100)
        #expect(proxy.process.isRunning)
    }
}

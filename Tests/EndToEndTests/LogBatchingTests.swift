import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// On a pipe, at most one write of access-log lines leaves every
/// --log-flush-interval; lines that come sooner wait (docs/logging.md). Lines still waiting when the
/// proxy stops are written before it exits, whichever way it stops. (Every
/// other end-to-end test reads the log through a pipe, with the default
/// interval.)
@Suite struct LogBatchingTests {
    private func requestThree(_ proxy: ProxyUnderTest) throws {
        for index in 1...3 {
            #expect(try curl(["-o", "/dev/null", "-w", "%{http_code}", "\(proxy.baseURL)/batched-\(index)"]).output == "200")
        }
    }

    private func expectThreeLines(_ proxy: ProxyUnderTest, sourceLocation: SourceLocation = #_sourceLocation) {
        let lines = proxy.process.waitForLines(count: 3) { $0.contains("/batched-") }
        #expect(lines.count == 3, "\(proxy.logLines)", sourceLocation: sourceLocation)
        #expect(lines.allSatisfy { $0.contains("\" 200 ") }, sourceLocation: sourceLocation)
    }

    // With a runtime (the proxy exits with the runtime's status after SIGTERM): the first line leaves at once (nothing was written before it), the two after it wait out the 600 s interval and are written before the exit.
    @Test func waitingLinesAreWrittenWhenTheProxyExitsWithItsRuntime() throws {
        let port = try FreePort.pick()
        let script = Harness.fixtures.appendingPathComponent("supervised_runtime.py").path
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:\(port)",
                                       arguments: ["--log-flush-interval", "600", "--", Harness.python, script, "\(port)"])
        #expect(proxy.process.waitForLine(onStderr: true) { $0.contains("runtime ready after") } != nil)
        try requestThree(proxy)
        #expect(proxy.process.waitForLine { $0.contains("/batched-1 ") } != nil, "a lone line waits for nothing")
        proxy.process.signal(SIGTERM)
        #expect(proxy.process.waitForExit() == 0)
        expectThreeLines(proxy)
    }

    // Without a runtime (the proxy stops when its loop has nothing left to do): the waiting lines are written, and the 600 s interval does not hold the exit up.
    @Test func waitingLinesAreWrittenWhenTheProxyStopsAlone() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--log-flush-interval", "600"])
        try requestThree(proxy)
        proxy.process.signal(SIGTERM)
        #expect(proxy.process.waitForExit() == 0)
        expectThreeLines(proxy)
    }
}

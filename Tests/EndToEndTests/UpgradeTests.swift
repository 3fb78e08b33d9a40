import Foundation
import Testing

/// Protocol upgrades are tunnelled: after the upstream's 101, bytes flow both ways.
@Suite struct UpgradeTests {
    // A real WebSocket client and server (python3-websockets) exchange text and binary messages through the proxy.
    @Test func webSocketEcho() throws {
        let server = try PythonUpstream("ws_echo.py")
        let proxy = try ProxyUnderTest(upstream: server.address)
        let client = try TestProcess(Harness.python, [Harness.fixtures.appendingPathComponent("ws_client.py").path,
                                                      "ws://127.0.0.1:\(proxy.port)/chat", "50"])
        #expect(client.waitForLine(timeout: 60) { $0 == "ECHOED 50" } != nil, "client stderr: \(client.stderr)")
        #expect(client.waitForExit(timeout: 30) == 0)
        let log = proxy.process.waitForLines(count: 1) { $0.contains("\"GET /chat HTTP/1.1\" 101") }
        #expect(log.count == 1)
    }

    // The whole-request timeout does not cut a tunnel: a WebSocket idle longer than --timeout still works.
    @Test func requestTimeoutDoesNotCutTunnel() throws {
        let server = try PythonUpstream("ws_echo.py")
        let proxy = try ProxyUnderTest(upstream: server.address, arguments: ["--timeout", "0.5"])
        let client = try TestProcess(Harness.python, [Harness.fixtures.appendingPathComponent("ws_client.py").path,
                                                      "ws://127.0.0.1:\(proxy.port)/", "3", "1.5"])
        #expect(client.waitForLine(timeout: 60) { $0 == "ECHOED 3" } != nil, "client stderr: \(client.stderr)")
        #expect(client.waitForExit(timeout: 30) == 0)
    }

    // The tunnel's own idle timeout closes a WebSocket that carries nothing for longer.
    @Test func tunnelIdleTimeoutClosesTunnel() throws {
        let server = try PythonUpstream("ws_echo.py")
        let proxy = try ProxyUnderTest(upstream: server.address, arguments: ["--tunnel-idle-timeout", "0.5"])
        let client = try TestProcess(Harness.python, [Harness.fixtures.appendingPathComponent("ws_client.py").path,
                                                      "ws://127.0.0.1:\(proxy.port)/", "3", "1.5"])
        let status = client.waitForExit(timeout: 60)
        #expect(status != nil && status != 0)
        #expect(!client.stdout.contains("ECHOED 3"))
    }

    // An upgrade the upstream declines is an ordinary response, and the client connection then closes.
    @Test func declinedUpgrade() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port)
        try client.send("GET /status/426 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 426)
        #expect(response.header("Connection") == "close")
        #expect(client.isClosedByPeer())
    }
}

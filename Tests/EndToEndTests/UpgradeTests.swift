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

    // Upgrade: h2c (with HTTP2-Settings) goes up as a plain HTTP/1.1 request: the runtime sees neither field, and the client connection stays open for the next request.
    @Test(arguments: ["h2c", "H2C"])
    func h2cUpgradeIsNotForwarded(token: String) throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port)
        try client.send("GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: \(token)\r\n"
            + "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200)
        let echoed = response.bodyText.lowercased()
        #expect(!echoed.contains("h2c") && !echoed.contains("http2-settings") && !echoed.contains("\"upgrade\""), "\(echoed)")
        try client.send("GET /status/204 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try client.readResponse().status == 204)
    }

    // An upgrade offering h2c and websocket reaches the runtime offering websocket only.
    @Test func h2cIsTakenOutOfAnUpgradeList() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port)
        try client.send("GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c, websocket\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText.contains("\"websocket\"") && !response.bodyText.contains("h2c"), "\(response.bodyText)")
    }

    // A WebSocket 101 with the matching Sec-WebSocket-Accept opens the tunnel: bytes come back through it.
    @Test func webSocketSwitchWithMatchingAcceptTunnels() throws {
        let upstream = try PythonUpstream("raw_upstream.py", ["switch"])
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send(Self.webSocketRequest("/ws"))
        let response = try client.readResponse()
        #expect(response.status == 101)
        #expect(response.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        try client.send("ping through the tunnel")
        #expect(client.readUntil(contains: "ping through the tunnel") != nil)
    }

    // A 101 the request did not ask for in that form (wrong accept, no accept, no key in the request, another protocol) gives the client 502, and both connections close.
    @Test(arguments: [("/ws-wrong-accept", true, "wrong Sec-WebSocket-Accept"), ("/ws-no-accept", true, "without Sec-WebSocket-Accept"),
                      ("/ws", false, "without Sec-WebSocket-Key"), ("/other", true, "did not ask for")])
    func unmatchedSwitchGets502(path: String, withKey: Bool, reason: String) throws {
        let upstream = try PythonUpstream("raw_upstream.py", ["switch"])
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send(withKey ? Self.webSocketRequest(path)
                        : "GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 502)
        #expect(response.bodyText.contains(reason), "\(response.bodyText)")
        #expect(client.isClosedByPeer())
        #expect(upstream.process.waitForLine { $0 == "EOF 1" } != nil, "the upstream connection was not closed")
    }

    /// A WebSocket handshake with RFC 6455's example key.
    static func webSocketRequest(_ path: String) -> String {
        "GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    }
}

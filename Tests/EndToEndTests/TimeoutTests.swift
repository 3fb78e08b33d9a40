import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Each timeout of a client connection, set short (0.5–1 s) so the suite stays
/// fast. Only outcomes are asserted (status, body, close, log), never how long
/// anything took: the clock on a shared machine is not a test input.
@Suite struct TimeoutTests {
    // --timeout with an upstream that never answers: 408 with the Kubeless body "Timeout exceeded" (plus newline), and the connection closes.
    @Test func silentUpstreamGets408TimeoutExceeded() throws {
        let upstream = try PythonUpstream("raw_upstream.py", ["silent"])
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--timeout", "1"])
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("GET /never HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 408)
        #expect(response.head.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
        #expect(response.bodyText == "Timeout exceeded\n")
        #expect(response.header("Connection") == "close")
        #expect(client.nextRead() == .closed)
        let lines = proxy.process.waitForLines(count: 1) { $0.contains("/never") }
        #expect(lines.first?.contains("\" 408 ") == true)
        #expect(lines.first?.hasSuffix(" error=\"request timeout\"") == true)
    }

    // One request timing out does not hold up another client's request on the same proxy.
    @Test func slowRequestTimesOutWhileAFastOneSucceeds() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--timeout", "1"])
        let slow = try RawClient(port: proxy.port, receiveTimeout: 10)
        try slow.send("GET /sleep?ms=5000 HTTP/1.1\r\nHost: x\r\n\r\n")
        let fast = try RawClient(port: proxy.port, receiveTimeout: 10)
        try fast.send("GET /status/200 HTTP/1.1\r\nHost: x\r\n\r\n")
        let fastResponse = try fast.readResponse()
        #expect(fastResponse.status == 200)
        #expect(fastResponse.bodyText == "status 200")
        let slowResponse = try slow.readResponse()
        #expect(slowResponse.status == 408)
        #expect(slowResponse.bodyText == "Timeout exceeded\n")
        #expect(slow.nextRead() == .closed)
        // The fast client's connection is still usable.
        try fast.send("GET /status/201 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(try fast.readResponse().status == 201)
    }

    // --timeout after the response head and part of a chunked body: the client is cut off without the last chunk, and the log records the timeout.
    @Test func timeoutMidResponseCutsTheClientOff() throws {
        let upstream = try PythonUpstream("raw_upstream.py", ["stall-chunked"])
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--timeout", "1"])
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("GET /stall HTTP/1.1\r\nHost: x\r\n\r\n")
        let (text, closed) = client.readUntilClosed()
        #expect(closed)
        #expect(text.hasPrefix("HTTP/1.1 200 "))
        #expect(text.contains("\r\n\r\n5\r\nhello\r\n"))
        #expect(!text.hasSuffix("0\r\n\r\n"))
        let lines = proxy.process.waitForLines(count: 1) { $0.contains("/stall") }
        #expect(lines.first?.contains("\" 200 ") == true)
        #expect(lines.first?.hasSuffix(" error=\"request timeout\"") == true)
    }

    // --response-start-timeout with an upstream that never answers: 504 naming the timeout (header, log), while the request timeout is far off.
    @Test func responseStartTimeoutGives504() throws {
        let upstream = try PythonUpstream("raw_upstream.py", ["silent"])
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--timeout", "60", "--response-start-timeout", "1"])
        let client = try RawClient(port: proxy.port, receiveTimeout: 30)
        try client.send("GET /never HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 504)
        #expect(response.header("X-Runtime-Proxy-Error") == "response-start-timeout")
        #expect(response.bodyText == "no response within the response start timeout\n")
        let lines = proxy.process.waitForLines(count: 1) { $0.contains("/never") }
        #expect(lines.first?.hasSuffix(" error=\"no response within the response start timeout\"") == true)
    }

    // --response-idle-timeout cuts a response that stalls after its first chunk, long before the request timeout.
    @Test func responseIdleTimeoutCutsAStalledStream() throws {
        let upstream = try PythonUpstream("raw_upstream.py", ["stall-chunked"])
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--timeout", "60", "--response-idle-timeout", "1"])
        let client = try RawClient(port: proxy.port, receiveTimeout: 30)
        try client.send("GET /stall HTTP/1.1\r\nHost: x\r\n\r\n")
        let (text, closed) = client.readUntilClosed()
        #expect(closed)
        #expect(text.contains("\r\n\r\n5\r\nhello\r\n") && !text.hasSuffix("0\r\n\r\n"))
        let lines = proxy.process.waitForLines(count: 1) { $0.contains("/stall") }
        #expect(lines.first?.hasSuffix(" error=\"response idle timeout\"") == true)
    }

    // A healthy stream (a chunk every 0.3 s) outlives a 1 s response idle timeout whole: only a stall cuts.
    @Test func responseIdleTimeoutSparesAFlowingStream() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--response-idle-timeout", "1"])
        let result = try curl(["-w", " %{http_code}", "\(proxy.baseURL)/stream?n=6&ms=300"])
        #expect(result.output.hasSuffix(" 200"))
        #expect(result.status == 0, "\(result.error)")
    }

    // --header-timeout: a client that sends half a request head and stops gets 408 and the connection closes.
    @Test func halfSentHeadGets408() throws {
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:9", arguments: ["--header-timeout", "0.5"])
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("GET /half HTTP/1.1\r\nHost:")
        let response = try client.readResponse()
        #expect(response.status == 408)
        #expect(response.bodyText == "Request Timeout\n")
        #expect(response.header("Connection") == "close")
        #expect(client.nextRead() == .closed)
        let lines = proxy.process.waitForLines(count: 1) { $0.contains(" 408 ") }
        #expect(lines.first?.contains("error=\"request head not received within the header timeout\"") == true)
    }

    // --client-idle-timeout: a keep-alive client that sends nothing after its response is closed by the proxy.
    @Test func idleKeepAliveClientIsClosed() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--client-idle-timeout", "0.5"])
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("GET /status/200 HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.header("Connection") == nil)
        #expect(client.nextRead() == .closed)
    }

    // --connect-timeout with an upstream whose accept queue is full (SYNs dropped): 504, and the log says why.
    @Test func unacceptedConnectGets504() throws {
        let upstream = try PythonUpstream("raw_upstream.py", ["backlog"])
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--connect-timeout", "0.5"])
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("GET /connect HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 504)
        #expect(response.bodyText == "upstream connect timeout\n")
        let lines = proxy.process.waitForLines(count: 1) { $0.contains("/connect") }
        #expect(lines.first?.contains("\" 504 ") == true)
        #expect(lines.first?.hasSuffix(" error=\"upstream connect timeout\"") == true)
    }
}

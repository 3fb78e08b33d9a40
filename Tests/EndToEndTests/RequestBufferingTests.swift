import Foundation
import Testing

/// `--buffer-request-body`: a chunked upload reaches a runtime that cannot
/// read chunked bodies (gunicorn with Bottle, as in runtimes/python) with a
/// `Content-Length`; a body past the limit gets 413 and reaches nothing.
@Suite struct RequestBufferingTests {
    static let body = String(repeating: "0123456789abcdef", count: 4096)  // 64 KiB

    /// A chunked POST of `body` in 4 KiB chunks.
    static func chunkedPost(_ target: String, _ body: String) -> String {
        var text = "POST \(target) HTTP/1.1\r\nHost: fn.test\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        var rest = Substring(body)
        while !rest.isEmpty {
            let chunk = rest.prefix(4096)
            text += String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n"
            rest = rest.dropFirst(chunk.count)
        }
        return text + "0\r\n\r\n"
    }

    // Without buffering, the Python runtime cannot read a chunked upload (Bottle fails on it); with it, the body arrives whole with its length.
    @Test func chunkedUploadReachesTheWSGIRuntimeWhole() throws {
        let plain = try Deployment("python", "by_path", "route", testFunction: true)
        let unbuffered = try RawClient(port: plain.proxy.port)
        try unbuffered.send(Self.chunkedPost("/echo", Self.body))
        #expect(try unbuffered.readResponse().status == 500)

        let buffered = try Deployment("python", "by_path", "route", testFunction: true, proxyArguments: ["--buffer-request-body", "1m"])
        let client = try RawClient(port: buffered.proxy.port)
        try client.send(Self.chunkedPost("/echo", Self.body))
        let response = try client.readResponse()
        #expect(response.status == 200)
        let seen = try KubelessRuntimeTests.jsonObject(response)
        #expect(seen["data"] as? String == Self.body)
        #expect(seen["content-length"] as? String == "65536")
        #expect(seen["transfer-encoding"] is NSNull)
        // The same connection goes on: a body with a length streams as before.
        try client.send(Deployment.request("POST", "/echo", headers: ["Content-Type": "text/plain"], body: "short"))
        let counted = try KubelessRuntimeTests.jsonObject(try client.readResponse())
        #expect(counted["data"] as? String == "short" && counted["content-length"] as? String == "5")
    }

    // A chunked body past the limit gets 413 Content Too Large, the connection closes, and no byte of it reaches the upstream.
    @Test func bodyPastTheLimitGets413AndReachesNothing() throws {
        let upstream = try PythonUpstream("raw_upstream.py", ["record"])
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--buffer-request-body", "16k"])
        let client = try RawClient(port: proxy.port)
        try client.send(Self.chunkedPost("/upload", Self.body))
        let response = try client.readResponse()
        #expect(response.status == 413)
        #expect(response.bodyText == "request body larger than 16384 bytes\n")
        #expect(response.header("Connection") == "close")
        #expect(proxy.process.waitForLines(count: 1) { $0.contains("\"POST /upload HTTP/1.1\" 413 ") }.count == 1)
        // The upstream reads whatever is pending on its sockets, then says so: it got nothing.
        let sentinel = try RawClient(port: upstream.port)
        try sentinel.send("SENTINEL\n")
        #expect(upstream.process.waitForLine { $0 == "SENTINEL" } != nil)
        #expect(!upstream.process.stdout.contains { $0.hasPrefix("REQUEST ") || $0.hasPrefix("DATA ") })
    }

    // A bad size exits 64 before binding, naming the value.
    @Test func badSizeIsRefused() throws {
        let result = try runToCompletion(Harness.proxyBinary, ["--buffer-request-body", "lots", "--port", "0"], killAfter: 15)
        #expect(result.status == 64)
        #expect(String(decoding: result.error, as: UTF8.self).contains("request body buffer 'lots'"))
    }
}

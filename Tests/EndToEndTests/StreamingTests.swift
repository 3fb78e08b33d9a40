import Foundation
import Testing

/// Bodies stream through the proxy in both directions with bounded memory,
/// and streamed responses reach the client as they are produced.
@Suite(.serialized) struct StreamingTests {
    static let gibibyte = 1 << 30
    static let memoryBound = 32 << 20

    // A 1 GiB download passes intact while the proxy's peak RSS stays under 32 MiB.
    @Test func oneGibibyteDownload() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--log-format", "none"])
        let result = try curl(["-o", "/dev/null", "-w", "%{http_code} %{size_download}", "--max-time", "300",
                               "\(proxy.baseURL)/bytes?n=\(Self.gibibyte)"])
        #expect(result.output == "200 \(Self.gibibyte)")
        let peak = try #require(ProcessMemory.peakResidentBytes(pid: proxy.process.process.processIdentifier))
        #expect(peak < Self.memoryBound, "peak RSS \(peak) bytes")
    }

    // A 1 GiB upload with Content-Length arrives whole (checked by SHA-256) with peak RSS under 32 MiB.
    @Test func oneGibibyteUpload() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--log-format", "none"])
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("upload-\(UUID().uuidString)")
        #expect(FileManager.default.createFile(atPath: file.path, contents: nil))
        defer { try? FileManager.default.removeItem(at: file) }
        let handle = try FileHandle(forWritingTo: file)
        try handle.truncate(atOffset: UInt64(Self.gibibyte))  // sparse: reads as zeros
        try handle.close()
        let result = try curl(["--max-time", "300", "-T", file.path, "\(proxy.baseURL)/upload"])
        #expect(result.output.contains("\"body_length\": \(Self.gibibyte)"))
        #expect(result.output.contains("49bc20df15e412a64472421e13fe86ff1c5165e18b2afccf160d4dc19fe68a14"))
        let peak = try #require(ProcessMemory.peakResidentBytes(pid: proxy.process.process.processIdentifier))
        #expect(peak < Self.memoryBound, "peak RSS \(peak) bytes")
    }

    // A client that does not read its response holds the upstream back: the proxy
    // stops reading the upstream instead of buffering (RSS stays small while the
    // client waits), and the whole body arrives once the client reads.
    @Test func slowReaderHoldsUpstreamBack() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--log-format", "none"])
        let size = 512 << 20
        let client = try RawClient(port: proxy.port)
        try client.send("GET /bytes?n=\(size) HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(client.readUntil(contains: "\r\n\r\n") != nil)
        // Nothing signals "the proxy did not buffer": watch it for a bounded while.
        var peak = 0
        for _ in 0..<20 {
            usleep(100_000)
            peak = max(peak, ProcessMemory.residentBytes(pid: proxy.process.process.processIdentifier) ?? 0)
        }
        #expect(peak < Self.memoryBound, "RSS \(peak) bytes while the client was not reading")
        let response = try client.readResponse()
        #expect(response.body.count == size)
    }

    // A chunked upload of unknown length (256 MiB from a pipe) is re-chunked upstream and arrives whole.
    @Test func chunkedUploadFromPipe() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--log-format", "none"])
        let result = try shell("head -c \(256 << 20) /dev/zero | curl -sS --max-time 300 -T - \(proxy.baseURL)/upload")
        #expect(result.status == 0)
        #expect(result.output.contains("\"body_length\": \(256 << 20)"))
        #expect(result.output.contains("a6d72ac7690f53be6ae46ba88506bd97302a093f7108472bd9efc3cefda06484"))
    }

    // A streamed response reaches the client chunk by chunk: the first chunk arrives
    // while the upstream is still holding back the second.
    @Test func streamedChunksArriveAsSent() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port)
        try client.send("GET /gated?id=sse1 HTTP/1.1\r\nHost: x\r\n\r\n")
        let early = try #require(client.readUntil(contains: "first\n"))
        #expect(!early.contains("second"))
        #expect(try curl(["http://\(upstream.address)/release?id=sse1"]).output == "released")
        let rest = try #require(client.readUntil(contains: "\r\n0\r\n\r\n"))
        #expect(rest.contains("second\n"))
    }

    // Expect: 100-continue: the upstream's 100 reaches the client before it sends the body.
    @Test func expectContinue() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port)
        try client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        let interim = try #require(client.readUntil(contains: "\r\n\r\n"))
        #expect(interim.hasPrefix("HTTP/1.1 100 Continue\r\n"))
        client.discard(interim.utf8.count)
        try client.send("hello")
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.bodyText.contains("\"body_length\": 5"))
    }

    // A Unix-domain socket upstream works like a TCP one.
    @Test func unixSocketUpstream() throws {
        let path = "/tmp/runtime-proxy-test-\(getpid())-\(UUID().uuidString.prefix(8)).sock"
        defer { unlink(path) }
        let upstream = try PythonUpstream("echo_upstream.py", ["--unix", path])
        _ = upstream
        let proxy = try ProxyUnderTest(upstream: "unix:\(path)")
        let result = try curl(["-w", " %{http_code}", "\(proxy.baseURL)/status/201"])
        #expect(result.output == "status 201 201")
    }

    // 48 chunked uploads of 1 MiB held open at once with --buffer-request-body 2m and a total of 8m: the proxy holds at
    // most the total (the uploads past it get 503 with Retry-After), its RSS stays bounded, and every upload is answered.
    @Test func collectedBodiesStayUnderTheirCeiling() throws {
        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--log-format", "none", "--buffer-request-body", "2m",
                                                                               "--buffer-request-total", "8m"])
        let pid = proxy.process.process.processIdentifier
        let before = try #require(ProcessMemory.residentBytes(pid: pid))
        let chunk = [UInt8](repeating: 0x61, count: 1 << 20)
        var clients: [RawClient] = []
        for _ in 0..<48 {
            let client = try RawClient(port: proxy.port, receiveTimeout: 30)
            try client.send("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n")
            try client.send(chunk)
            try client.send("\r\n")
            clients.append(client)
        }
        var statuses: [Int: Int] = [:]
        for client in clients {
            try client.send("0\r\n\r\n")
            let response = try client.readResponse()
            statuses[response.status, default: 0] += 1
            if response.status == 503 { #expect(response.header("Retry-After") == "1") }
        }
        #expect(statuses.values.reduce(0, +) == 48)
        #expect((statuses[200] ?? 0) >= 4, "\(statuses)")
        #expect((statuses[503] ?? 0) >= 1, "\(statuses)")
        #expect(Set(statuses.keys).isSubset(of: [200, 503]), "\(statuses)")
        let peak = try #require(ProcessMemory.peakResidentBytes(pid: pid))
        #expect(peak - before < 24 << 20, "peak RSS \(peak) bytes, \(before) before")
    }
}

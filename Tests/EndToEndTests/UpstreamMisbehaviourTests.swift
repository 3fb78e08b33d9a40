import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// An upstream that breaks HTTP (Fixtures/hostile_upstream.py, by path): the
/// client gets 502 when nothing of the response went out yet, never a byte
/// of a response it did not ask for, and the upstream connection is closed,
/// never handed to the next request.
@Suite struct UpstreamMisbehaviourTests {
    // Each invalid response (no status line, HTTP/0.9 answer, CL with TE, two CLs, NUL in a field, endless head, a 101 that names no protocol) gives 502 and the connection is dropped, not reused.
    @Test(arguments: ["/garbage", "/no-status", "/cl-te", "/two-cl", "/nul", "/endless-headers", "/endless-value", "/switch-no-upgrade"])
    func invalidResponseGives502AndDropsTheConnection(path: String) throws {
        let upstream = try HostileUpstream()
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 502)
        #expect(response.bodyText.hasPrefix("invalid response from upstream ("))
        #expect(!response.head.contains("X-Pad") && !response.bodyText.contains("smuggle"))
        let bad = try #require(upstream.connection(servingPath: path))
        try expectDroppedAndNotReused(upstream, proxy: proxy, bad: bad)
        let line = proxy.process.waitForLines(count: 1) { $0.contains(path) }.first
        #expect(line?.contains("\" 502 ") == true && line?.contains("error=\"invalid response from upstream (") == true)
    }

    // A 101 to a request that asked for no upgrade is invalid: 502, never a raw tunnel, and the request pipelined after it still goes through the proxy's parser.
    @Test func unsolicitedSwitchingProtocolsGives502() throws {
        let upstream = try HostileUpstream()
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 3)
        try client.send("GET /switch HTTP/1.1\r\nHost: x\r\n\r\nGET /piped HTTP/1.1\r\nHost: x\r\n\r\n")
        let text = client.readUntil(contains: "\r\n\r\n") ?? ""
        #expect(text.hasPrefix("HTTP/1.1 502 "), "the client got \(text.debugDescription)")
        #expect(!text.contains("RAW TUNNEL BYTES"))
        let forwarded = try upstream.forwarded()
        #expect(forwarded.problems.isEmpty, "\(forwarded.problems)")
        #expect(upstream.waitFor("EOF 1", timeout: 3))
    }

    // A 101 without Upgrade/Connection: upgrade to a client that asked to upgrade: 502, and nothing of what followed the 101 (it reads as a response) reaches the client.
    @Test func switchingProtocolsWithoutUpgradeGives502ToAnUpgradingClient() throws {
        let upstream = try HostileUpstream()
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 3)
        try client.send("GET /switch-no-upgrade HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
        let (text, closed) = client.readUntilClosed()
        #expect(closed)
        #expect(text.hasPrefix("HTTP/1.1 502 "), "the client got \(text.debugDescription)")
        #expect(!text.contains("Injected") && !text.contains(" 101 "))
    }

    // A second response in the same write as the first: the client gets the first only; the connection is closed, and the next request gets its own answer.
    @Test func secondResponseInTheSameWriteIsDropped() throws {
        let upstream = try HostileUpstream()
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("GET /double HTTP/1.1\r\nHost: x\r\n\r\n")
        let first = try client.readResponse()
        #expect(first.status == 200 && first.bodyText == "ok")
        try expectDroppedAndNotReused(upstream, proxy: proxy, bad: 1, on: client)
    }

    // A second response written later, while the connection idles in the pool: the pool closes it, the client never sees it.
    @Test func secondResponseWhileIdleInThePoolIsDropped() throws {
        let upstream = try HostileUpstream()
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("GET /double-later HTTP/1.1\r\nHost: x\r\n\r\n")
        let first = try client.readResponse()
        #expect(first.status == 200 && first.bodyText == "ok")
        #expect(upstream.waitFor("EXTRA 1"))
        // Readiness: the proxy has seen the stray bytes and closed the connection.
        #expect(upstream.waitFor("EOF 1"))
        try expectDroppedAndNotReused(upstream, proxy: proxy, bad: 1, on: client)
    }

    // A response before the request body was sent (413 to a 100 kB upload) is relayed with Connection: close; the upstream connection is closed, not pooled.
    @Test func responseBeforeTheBodyIsRelayedAndTheConnectionDropped() throws {
        let upstream = try HostileUpstream()
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + String(repeating: "b", count: 1000))
        #expect(upstream.waitFor("EARLY 1"))
        let response = try client.readResponse()
        #expect(response.status == 413 && response.bodyText == "too large")
        #expect(response.header("Connection") == "close")
        #expect(client.nextRead() == .closed)
        #expect(!upstream.events.contains { $0.hasPrefix("REQUEST 1 ") })
        try expectDroppedAndNotReused(upstream, proxy: proxy, bad: 1)
    }

    // An endless flood of 103 interim responses: the proxy gives up (502, connection dropped) instead of relaying 20,000 of them until the request timeout.
    @Test func interimResponseFloodGives502() throws {
        let upstream = try HostileUpstream()
        let proxy = try ProxyUnderTest(upstream: upstream.address, arguments: ["--timeout", "3"])
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("GET /flood-1xx HTTP/1.1\r\nHost: x\r\n\r\n")
        var interim = 0
        var final: RawClient.Response?
        while interim <= 20_000, final == nil, let response = try? client.readResponse() {
            if response.status < 200 { interim += 1 } else { final = response }
        }
        #expect(final?.status == 502, "final status \(final?.status ?? 0) after \(interim) interim responses")
        #expect(interim < 20_000, "all \(interim) interim responses were relayed")
        try expectDroppedAndNotReused(upstream, proxy: proxy, bad: 1)
    }

    // An obs-fold in a response header reaches the client as one line: no CR, LF or leading whitespace.
    @Test func foldedResponseHeaderIsJoined() throws {
        let upstream = try HostileUpstream()
        let proxy = try ProxyUnderTest(upstream: upstream.address)
        let client = try RawClient(port: proxy.port, receiveTimeout: 10)
        try client.send("GET /fold HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200 && response.bodyText == "ok")
        let lines = response.head.components(separatedBy: "\r\n")
        #expect(lines.allSatisfy { !$0.hasPrefix(" ") && !$0.hasPrefix("\t") && !$0.contains("\r") && !$0.contains("\n") })
        #expect(lines.contains { collapsingWhitespace($0) == "X-Fold: first second" })
    }

    /// Upstream connection `bad` was closed by the proxy, and the next
    /// request (on `client`, or a new client) went on another one.
    private func expectDroppedAndNotReused(_ upstream: HostileUpstream, proxy: ProxyUnderTest, bad: Int,
                                           on client: RawClient? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(upstream.waitFor("EOF \(bad)"), "the proxy kept upstream connection \(bad)", sourceLocation: sourceLocation)
        let next = try client ?? RawClient(port: proxy.port, receiveTimeout: 10)
        try next.send("GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try next.readResponse()
        #expect(response.status == 200 && response.bodyText == "ok", "got \(response.head) \(response.bodyText)", sourceLocation: sourceLocation)
        let after = try #require(upstream.connection(servingPath: "/after"), sourceLocation: sourceLocation)
        #expect(after != bad, sourceLocation: sourceLocation)
    }
}

/// Fixtures/hostile_upstream.py: records every byte it receives, and
/// misbehaves according to the request path.
final class HostileUpstream: @unchecked Sendable {
    let server: PythonUpstream
    private var sentinels = 0

    init() throws { server = try PythonUpstream("hostile_upstream.py") }

    var address: String { server.address }
    var port: Int { server.port }
    /// Every line but the DATA ones.
    var events: [String] { server.process.stdout.filter { !$0.hasPrefix("DATA ") } }

    func waitFor(_ line: String, timeout: TimeInterval = 20) -> Bool { server.process.waitForLine(timeout: timeout) { $0 == line } != nil }

    /// The connection number a request for `path` arrived on (waits for it).
    func connection(servingPath path: String) -> Int? {
        let line = server.process.waitForLine { $0.hasPrefix("REQUEST ") && $0.contains(" \(path) HTTP/1.1") }
        return line.flatMap { Int($0.split(separator: " ")[1]) }
    }

    /// Bytes received so far (without draining sockets), every connection in arrival order.
    var bytesSoFar: [UInt8] {
        server.process.stdout.filter { $0.hasPrefix("DATA ") }.flatMap { decodeHex($0.split(separator: " ")[2]) }
    }

    /// Drains every socket (SENTINEL), then parses everything received into requests.
    func forwarded() throws -> ForwardedStream {
        let probe = try RawClient(port: port, receiveTimeout: 10)
        try probe.send("SENTINEL\n")
        sentinels += 1
        #expect(server.process.waitForLines(count: sentinels) { $0 == "SENTINEL" }.count == sentinels)
        var perConnection: [Int: [UInt8]] = [:]
        var order: [Int] = []
        for line in server.process.stdout where line.hasPrefix("DATA ") {
            let parts = line.split(separator: " ")
            guard let number = Int(parts[1]) else { continue }
            if perConnection[number] == nil { order.append(number) }
            perConnection[number, default: []] += decodeHex(parts[2])
        }
        return ForwardedStream(order.map { perConnection[$0]! })
    }
}

func decodeHex(_ hex: Substring) -> [UInt8] {
    let digits = Array(hex.utf8)
    return stride(from: 0, to: digits.count - 1, by: 2).map { UInt8(String(decoding: digits[$0...$0 + 1], as: UTF8.self), radix: 16) ?? 0x3F }
}

/// `text` with every run of spaces and tabs made one space.
func collapsingWhitespace(_ text: String) -> String {
    text.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
}

/// Bytes as Latin-1: every scalar up to U+00FF is one byte (for NUL, DEL, 0xFF...).
func latin1(_ text: String) -> [UInt8] { text.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) } }

/// What an upstream received, parsed as a picky origin server would: only
/// one reading may be possible. `problems` names anything a lenient parser
/// could read differently (bare CR or LF, control bytes, folds, odd framing),
/// and any request without the one X-Forwarded-For the proxy writes (a
/// request the proxy's parser never saw).
struct ForwardedStream {
    struct Request {
        var line = ""
        var fields: [String] = []
        var body: [UInt8] = []
        var complete = false
    }

    private(set) var requests: [Request] = []
    private(set) var problems: [String] = []

    /// One byte array per upstream connection.
    init(_ connections: [[UInt8]]) {
        for bytes in connections { parse(bytes) }
    }

    private mutating func parse(_ bytes: [UInt8]) {
        var at = 0
        while at < bytes.count {
            guard let end = find([13, 10, 13, 10], in: bytes, from: at) else {
                problems.append("unfinished head: \(text(bytes[at...]).debugDescription)")
                return
            }
            let lines = split(Array(bytes[at..<end]))
            at = end + 4
            var request = Request(line: text(lines[0]), fields: lines.dropFirst().map { text($0) })
            check(lines)
            let framing = { (name: String) in request.fields.filter { $0.lowercased().hasPrefix(name + ":") } }
            let chunked = !framing("transfer-encoding").isEmpty
            if chunked {
                while let lineEnd = find([13, 10], in: bytes, from: at) {
                    let sizeText = text(bytes[at..<lineEnd])
                    guard !sizeText.isEmpty, sizeText.allSatisfy(\.isHexDigit), let size = Int(sizeText, radix: 16) else {
                        problems.append("chunk size line \(sizeText.debugDescription)")
                        return
                    }
                    at = lineEnd + 2
                    guard bytes.count >= at + size + 2 else { request.body += bytes[min(at, bytes.count)...]; at = bytes.count; break }
                    if !bytes[(at + size)..<(at + size + 2)].elementsEqual([13, 10]) { problems.append("chunk not ended by CRLF") }
                    request.body += bytes[at..<(at + size)]
                    at += size + 2
                    if size == 0 { request.complete = true; break }
                }
                if !request.complete { at = bytes.count }
            } else if let length = framing("content-length").first.flatMap({ Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) }) {
                request.body = Array(bytes[at..<min(bytes.count, at + length)])
                request.complete = bytes.count >= at + length
                at = min(bytes.count, at + length)
            } else {
                request.complete = true
            }
            requests.append(request)
        }
    }

    /// The start line and fields of one head, split at CRLF.
    private mutating func check(_ lines: [[UInt8]]) {
        let tchar = Set(Array("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8))
        let parts = lines[0].split(separator: 0x20, omittingEmptySubsequences: false)
        if parts.count != 3 || parts[0].isEmpty || !parts[0].allSatisfy(tchar.contains) || parts[1].isEmpty
            || parts[1].contains(where: { $0 < 0x21 || $0 == 0x7F }) || text(parts[2]) != "HTTP/1.1" {
            problems.append("request line \(text(lines[0]).debugDescription)")
        }
        var counts: [String: Int] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: 0x3A), colon > 0, line[..<colon].allSatisfy(tchar.contains),
                  !line[(colon + 1)...].contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) else {
                problems.append("field line \(text(line).debugDescription)")
                continue
            }
            counts[text(line[..<colon]).lowercased(), default: 0] += 1
        }
        if counts["host"] != 1 { problems.append("\(counts["host"] ?? 0) Host fields") }
        if counts["x-forwarded-for"] != 1 { problems.append("no X-Forwarded-For of the proxy's: \(text(lines[0]).debugDescription) was not parsed by it") }
        if (counts["content-length"] ?? 0) + (counts["transfer-encoding"] ?? 0) > 1 { problems.append("more than one framing field") }
        if counts["transfer-encoding"] != nil, !lines.contains(where: { text($0) == "Transfer-Encoding: chunked" }) {
            problems.append("Transfer-Encoding other than chunked")
        }
    }

    private func split(_ head: [UInt8]) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var start = 0
        while let end = find([13, 10], in: head, from: start) { lines.append(Array(head[start..<end])); start = end + 2 }
        lines.append(Array(head[start...]))
        return lines
    }

    private func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count >= needle.count, start <= bytes.count - needle.count else { return nil }
        return (start...(bytes.count - needle.count)).first { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    /// Latin-1: one character per byte, so every byte stays visible.
    private func text<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }
}

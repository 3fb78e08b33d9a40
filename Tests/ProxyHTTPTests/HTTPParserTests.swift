import Testing
@testable import ProxyHTTP

/// Requests that parse; every input is also cut at every byte
/// boundary and fed byte by byte, and must give the same events.
@Suite struct HTTPParserTests {
    // A GET head: method, target, path without the query, fields in order, values trimmed of surrounding whitespace.
    @Test func simpleGetWithQueryAndHeaders() throws {
        let input = bytes("GET /search?q=swift&lang=en HTTP/1.1\r\nHost: example.com\r\nX-Spaced: \t  padded  value \t \r\n"
            + "Accept:*/*\r\nX-Empty:\r\n\r\n")
        let run = parseSplitAtEveryBoundary(input: input, kind: .request)
        #expect(run.error == nil)
        #expect(run.messages.count == 1)
        let message = try #require(run.messages.first)
        #expect(message.head.method == "GET")
        #expect(message.head.methodKind == .get)
        #expect(message.head.target == "/search?q=swift&lang=en")
        #expect(message.head.path == "/search")
        #expect(message.head.fields == ["Host: example.com", "X-Spaced: padded  value", "Accept: */*", "X-Empty: "])
        #expect(message.head.version == "1.1")
        #expect(message.head.keepAlive)
        #expect(message.head.contentLength == nil)
        #expect(!message.head.isChunked)
        #expect(!message.head.isUpgrade)
        #expect(message.body.isEmpty)
        #expect(message.isComplete)
    }

    // A parser told of a consumed field finds its first value by role, in any case; one not told classifies it as ordinary.
    @Test func consumedFieldFoundByRole() {
        let text = "GET / HTTP/1.1\r\nHost: a\r\nX-Deadline:  1.5 \r\nx-deadline: 2\r\n\r\n"
        let head = parseHead(text, consumedField: "x-deadline")
        #expect(head.firstValue(of: .consumed).map { String(decoding: $0, as: UTF8.self) } == "1.5")
        #expect(head.role(at: 1) == .consumed && head.role(at: 2) == .consumed)
        let plain = parseHead(text)
        #expect(plain.firstValue(of: .consumed) == nil)
        #expect(plain.role(at: 1) == .ordinary)
    }

    // keepAlive: HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    @Test(arguments: [
        ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", true),
        ("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false),
        ("GET / HTTP/1.0\r\n\r\n", false),
        ("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
    ])
    func keepAlive(request: String, expected: Bool) throws {
        let run = parseSplitAtEveryBoundary(input: bytes(request), kind: .request)
        let message = try #require(run.messages.first)
        #expect(message.head.keepAlive == expected)
        #expect(message.head.version == (request.contains("HTTP/1.0") ? "1.0" : "1.1"))
        #expect(message.isComplete)
    }

    // Methods llhttp knows map to HTTPMethod; the bytes always travel as they came.
    @Test(arguments: [("DELETE", HTTPMethod.delete), ("HEAD", .head), ("PUT", .put), ("OPTIONS", .options), ("PATCH", .patch),
                      ("PROPFIND", .other)])
    func methodKinds(method: String, kind: HTTPMethod) throws {
        let run = parseSplitAtEveryBoundary(input: bytes("\(method) /x HTTP/1.1\r\nHost: a\r\n\r\n"), kind: .request)
        let message = try #require(run.messages.first)
        #expect(message.head.method == method)
        #expect(message.head.methodKind == kind)
    }

    // A Content-Length body arrives as body bytes and completes the message.
    @Test func postWithContentLength() throws {
        let input = bytes("POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world")
        let run = parseSplitAtEveryBoundary(input: input, kind: .request)
        let message = try #require(run.messages.first)
        #expect(run.messages.count == 1)
        #expect(message.head.methodKind == .post)
        #expect(message.head.contentLength == 11)
        #expect(!message.head.isChunked)
        #expect(message.bodyString == "hello world")
        #expect(message.isComplete)
    }

    // A chunked body is de-chunked; chunk extensions are skipped; trailers never join the head's fields.
    @Test func chunkedRequestWithExtensionsAndTrailers() throws {
        let input = bytes("POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n6;flag\r\n world\r\nB\r\n 0123456789\r\n0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n")
        let run = parseSplitAtEveryBoundary(input: input, kind: .request)
        #expect(run.error == nil)
        let message = try #require(run.messages.first)
        #expect(message.head.isChunked)
        #expect(message.head.contentLength == nil)
        #expect(message.head.fields == ["Host: a", "Transfer-Encoding: chunked"])
        #expect(message.fieldsAtCompletion == ["Host: a", "Transfer-Encoding: chunked"])
        #expect(message.bodyString == "hello world 0123456789")
        #expect(message.isComplete)
    }

    // Two pipelined requests: a pause after the first reports exactly its length; resume parses the second.
    @Test func pipelinedRequestsPauseAtMessageBoundary() throws {
        let first = bytes("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        let second = bytes("POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        let input = first + second
        let parser = HTTPParser(kind: .request)
        let recorder = ParserRecorder()
        recorder.pauseAfterMessage = true
        parser.delegate = recorder

        #expect(parser.execute(input) == .paused(consumed: first.count))
        #expect(recorder.messages.map(\.head.target) == ["/a"])
        #expect(recorder.messages.last?.isComplete == true)

        parser.resume()
        #expect(parser.execute(input[first.count...]) == .paused(consumed: second.count))
        #expect(recorder.messages.map(\.head.target) == ["/a", "/b"])
        #expect(recorder.messages.last?.bodyString == "abc")

        parser.resume()
        recorder.pauseAfterMessage = false
        #expect(parser.execute(bytes("GET /c HTTP/1.1\r\nHost: x\r\n\r\n")) == .consumedAll)
        #expect(recorder.messages.map(\.head.target) == ["/a", "/b", "/c"])
    }

    // Pipelined requests give the same messages however they are cut, paused after each or not.
    @Test(arguments: [false, true])
    func pipelinedRequestsAtEverySplit(pause: Bool) {
        let input = bytes("GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
            + "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")
        let run = parseSplitAtEveryBoundary(input: input, kind: .request, pauseAfterMessage: pause)
        #expect(run.messages.map(\.head.target) == ["/a", "/b", "/c"])
        #expect(run.messages.map(\.bodyString) == ["", "abc", "hi"])
        #expect(run.messages.map(\.isComplete) == [true, true, true])
        #expect(run.pauses == (pause ? 3 : 0))
    }

    // An upgrade request stops right after its head; the bytes after it are not parsed.
    @Test func upgradeRequestStopsAfterHead() throws {
        let head = bytes("GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        let tail: [UInt8] = [0x81, 0x05] + bytes("hello") + bytes("GARBAGE NOT HTTP\r\n\r\n")
        let parser = HTTPParser(kind: .request)
        let recorder = ParserRecorder()
        parser.delegate = recorder
        #expect(parser.execute(head + tail) == .upgraded(consumed: head.count))
        let message = try #require(recorder.messages.first)
        #expect(message.head.isUpgrade)
        #expect(message.isComplete)
        #expect(message.body.isEmpty)

        let run = parseSplitAtEveryBoundary(input: head + tail, kind: .request)
        #expect(run.upgradeTail == tail)
        #expect(run.error == nil)
        #expect(run.messages.count == 1)
    }

    // A delegate pausing after the upgrade request still gets .upgraded on resume, with the same tail unparsed.
    @Test func pauseBeforeUpgrade() {
        let head = bytes("GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        let tail = bytes("GET /not-http HTTP/1.1\r\n\r\n")
        let parser = HTTPParser(kind: .request)
        let recorder = ParserRecorder()
        recorder.pauseAfterMessage = true
        parser.delegate = recorder
        #expect(parser.execute(head + tail) == .paused(consumed: head.count))
        parser.resume()
        #expect(parser.execute(tail) == .upgraded(consumed: 0))
        #expect(recorder.messages.count == 1)

        let run = parseSplitAtEveryBoundary(input: head + tail, kind: .request, pauseAfterMessage: true)
        #expect(run.upgradeTail == tail)
        #expect(run.messages.count == 1)
    }

    // CONNECT is treated as an upgrade by llhttp: the parser stops after its head (pinned).
    @Test func connectStopsAfterHead() throws {
        let head = bytes("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        let run = parseSplitAtEveryBoundary(input: head + [0x16, 0x03, 0x01], kind: .request)
        let message = try #require(run.messages.first)
        #expect(message.head.methodKind == .connect)
        #expect(message.head.target == "example.com:443")
        #expect(message.head.isUpgrade)
        #expect(run.upgradeTail == [0x16, 0x03, 0x01])
    }

    // isReadingHead and isInMessage follow the message as it arrives.
    @Test func readingStateFlags() {
        let parser = HTTPParser(kind: .request)
        let recorder = ParserRecorder()
        parser.delegate = recorder
        #expect(!parser.isReadingHead && !parser.isInMessage)
        #expect(parser.execute(bytes("POST / HTTP/1.1\r\nContent-")) == .consumedAll)
        #expect(parser.isReadingHead && parser.isInMessage)
        #expect(parser.execute(bytes("Length: 2\r\n\r\na")) == .consumedAll)
        #expect(!parser.isReadingHead && parser.isInMessage)
        #expect(parser.execute(bytes("b")) == .consumedAll)
        #expect(!parser.isReadingHead && !parser.isInMessage)
        #expect(recorder.messages.first?.bodyString == "ab")
    }
}

/// Pausing right after a head, before its body.
@Suite struct HTTPParserPauseBeforeBodyTests {
    final class PausingRecorder: HTTPParserDelegate {
        var heads = 0
        var body: [UInt8] = []
        var completed = 0
        func parserDidCompleteHead(_ parser: HTTPParser) -> BodyExpectation { heads += 1; return .pauseBeforeBody }
        func parser(_ parser: HTTPParser, didReceiveBody bytes: RawSpan) { body.append(bytesOf: bytes) }
        func parserDidCompleteMessage(_ parser: HTTPParser) -> Bool { completed += 1; return false }
    }

    // .pauseBeforeBody stops exactly after the head; after resume the body and the next request follow.
    @Test func pauseAfterHeadThenResume() {
        let head = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
        let input = Array((head + "hello" + "GET /b HTTP/1.1\r\nHost: x\r\n\r\n").utf8)
        let parser = HTTPParser(kind: .request)
        let recorder = PausingRecorder()
        parser.delegate = recorder
        let first = input.withUnsafeBytes { parser.execute($0.bytes) }
        #expect(first == .paused(consumed: head.utf8.count))
        #expect(recorder.heads == 1 && recorder.body.isEmpty && recorder.completed == 0)
        parser.resume()
        let rest = Array(input[head.utf8.count...])
        let second = rest.withUnsafeBytes { parser.execute($0.bytes) }
        #expect(second == .paused(consumed: 5 + "GET /b HTTP/1.1\r\nHost: x\r\n\r\n".utf8.count))
        #expect(String(decoding: recorder.body, as: UTF8.self) == "hello")
        #expect(recorder.completed == 1 && recorder.heads == 2)
    }
}

extension HTTPParserPauseBeforeBodyTests {
    // A bodyless request paused at its head completes on resume with an empty execute.
    @Test func bodylessRequestCompletesOnEmptyExecute() {
        let input = Array("GET /a HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        let parser = HTTPParser(kind: .request)
        let recorder = PausingRecorder()
        parser.delegate = recorder
        #expect(input.withUnsafeBytes { parser.execute($0.bytes) } == .paused(consumed: input.count))
        parser.resume()
        let empty: [UInt8] = []
        #expect(empty.withUnsafeBytes { parser.execute($0.bytes) } == .consumedAll)
        #expect(recorder.completed == 1)
    }
}

import Testing
@testable import ProxyHTTP

/// Responses that parse, each also cut at every byte boundary and fed byte by
/// byte; the rules for which responses have a body are the point here.
@Suite struct HTTPParserResponseTests {
    // A 200 with Content-Length: status, reason phrase, body.
    @Test func responseWithContentLength() throws {
        let run = parseSplitAtEveryBoundary(input: bytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: t\r\n\r\nhello"), kind: .response)
        let message = try #require(run.messages.first)
        #expect(message.head.status == 200)
        #expect(message.head.reason == "OK")
        #expect(message.head.contentLength == 5)
        #expect(message.head.keepAlive)
        #expect(message.head.fields == ["Content-Length: 5", "Server: t"])
        #expect(message.bodyString == "hello")
        #expect(message.isComplete)
        #expect(run.finishOutcome == nil)
    }

    // A chunked response is de-chunked and keeps the connection.
    @Test func chunkedResponse() throws {
        let input = bytes("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nnot\r\n6\r\n found\r\n0\r\n\r\n")
        let run = parseSplitAtEveryBoundary(input: input, kind: .response)
        let message = try #require(run.messages.first)
        #expect(message.head.status == 404)
        #expect(message.head.reason == "Not Found")
        #expect(message.head.isChunked)
        #expect(message.head.keepAlive)
        #expect(message.bodyString == "not found")
        #expect(message.isComplete)
    }

    // A response without length ends at end of stream: needsEndOfStream, and finish() completes it.
    @Test func closeDelimitedResponse() throws {
        let input = bytes("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
        let parser = HTTPParser(kind: .response)
        let recorder = ParserRecorder()
        parser.delegate = recorder
        #expect(parser.execute(input) == .consumedAll)
        #expect(parser.needsEndOfStream)
        #expect(recorder.messages.first?.isComplete == false)
        #expect(parser.finish() == .consumedAll)
        #expect(recorder.messages.first?.isComplete == true)

        let run = parseSplitAtEveryBoundary(input: input, kind: .response, finish: true)
        let message = try #require(run.messages.first)
        #expect(!message.head.keepAlive)
        #expect(message.bodyString == "until the end")
        #expect(message.isComplete)
        #expect(run.finishOutcome == .consumedAll)
    }

    // 204 and 304 have no body whatever Content-Length says (RFC 9112 6.3): the next response follows directly.
    @Test(arguments: [
        "HTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
    ])
    func bodilessStatuses(first: String) {
        let input = bytes(first + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        let run = parseSplitAtEveryBoundary(input: input, kind: .response)
        #expect(run.error == nil)
        #expect(run.messages.count == 2)
        #expect(run.messages.map(\.bodyString) == ["", "ok"])
        #expect(run.messages.map(\.isComplete) == [true, true])
        #expect(run.messages.first?.head.keepAlive == true)
    }

    // A 101 switches protocols: upgraded right after its head.
    @Test func switchingProtocolsResponse() throws {
        let head = bytes("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        let tail: [UInt8] = [0x81, 0x02, 0x68, 0x69]
        let parser = HTTPParser(kind: .response)
        let recorder = ParserRecorder()
        parser.delegate = recorder
        #expect(parser.execute(head + tail) == .upgraded(consumed: head.count))
        #expect(recorder.messages.count == 1)

        let run = parseSplitAtEveryBoundary(input: head + tail, kind: .response)
        let message = try #require(run.messages.first)
        #expect(message.head.status == 101)
        #expect(message.head.isUpgrade)
        #expect(message.isComplete)
        #expect(run.upgradeTail == tail)
    }

    // A 101 that also says Transfer-Encoding: chunked or Content-Length has no body: what follows its head is the new protocol, untouched.
    @Test(arguments: ["Transfer-Encoding: chunked\r\n", "Content-Length: 5\r\n"])
    func switchingProtocolsWithFramingHasNoBody(framing: String) throws {
        let head = bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\(framing)\r\n")
        let tail = bytes("3\r\nabc\r\n0\r\n\r\n")
        let run = parseSplitAtEveryBoundary(input: head + tail, kind: .response)
        let message = try #require(run.messages.first)
        #expect(message.head.status == 101)
        #expect(message.body.isEmpty)
        #expect(run.upgradeTail == tail)
    }

    // A response to HEAD needs no length to end: without `Connection: close` the connection stays reusable.
    @Test(arguments: [("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", true),
                      ("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", false),
                      ("HTTP/1.0 200 OK\r\n\r\n", false),
                      ("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", true)])
    func responseToHeadWithoutLength(response: String, keepAlive: Bool) {
        let parser = HTTPParser(kind: .response)
        let recorder = ParserRecorder()
        recorder.bodyExpectations = [.none]
        recorder.pauseAfterMessage = true
        parser.delegate = recorder
        let input = bytes(response)
        #expect(parser.execute(input) == .paused(consumed: input.count))
        #expect(recorder.messages.first?.isComplete == true)
        #expect(parser.head.keepAlive == keepAlive)
    }

    // A 101 that names no protocol (no Upgrade, no Connection: upgrade) is invalid: llhttp would read what follows as its body.
    @Test(arguments: ["", "Upgrade: websocket\r\n", "Connection: upgrade\r\n"])
    func switchingProtocolsWithoutUpgradeIsMalformed(fields: String) {
        let input = bytes("HTTP/1.1 101 Switching Protocols\r\n\(fields)Content-Length: 5\r\n\r\nHTTP/")
        let run = parseSplitAtEveryBoundary(input: input, kind: .response)
        #expect(run.error?.kind == .malformed)
        #expect(run.messages.allSatisfy { $0.body.isEmpty })
    }

    // An interim 1xx (100 Continue, 103 Early Hints) is a message of its own; the final response follows in the same buffer.
    @Test(arguments: [(100, "Continue"), (103, "Early Hints")])
    func interimThenOK(status: Int, reason: String) {
        let input = bytes("HTTP/1.1 \(status) \(reason)\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        let run = parseSplitAtEveryBoundary(input: input, kind: .response)
        #expect(run.error == nil)
        #expect(run.messages.map(\.head.status) == [status, 200])
        #expect(run.messages.map(\.head.reason) == [reason, "OK"])
        #expect(run.messages.map(\.bodyString) == ["", "ok"])
        #expect(run.messages.map(\.isComplete) == [true, true])
    }

    // The response to HEAD (BodyExpectation.none) has a Content-Length but no body; the next response follows.
    @Test func responseToHeadHasNoBody() {
        let input = bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        let run = parseSplitAtEveryBoundary(input: input, kind: .response, bodyExpectations: [.none, .asFramed])
        #expect(run.error == nil)
        #expect(run.messages.map(\.head.contentLength) == [10, 2])
        #expect(run.messages.map(\.bodyString) == ["", "ok"])
        #expect(run.messages.map(\.isComplete) == [true, true])
    }

    // An HTTP/1.0 response: version recorded, not kept alive without `Connection: keep-alive`.
    @Test func http10Response() throws {
        let run = parseSplitAtEveryBoundary(input: bytes("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"), kind: .response)
        let message = try #require(run.messages.first)
        #expect(message.head.version == "1.0")
        #expect(!message.head.keepAlive)
        #expect(message.bodyString == "x")
    }

    // reset() forgets a half-read message: the next bytes start a new one.
    @Test func resetForgetsPartialMessage() {
        let parser = HTTPParser(kind: .response)
        let recorder = ParserRecorder()
        parser.delegate = recorder
        #expect(parser.execute(bytes("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")) == .consumedAll)
        parser.reset()
        #expect(!parser.isInMessage)
        #expect(parser.execute(bytes("HTTP/1.1 204 No Content\r\n\r\n")) == .consumedAll)
        #expect(recorder.messages.map(\.head.status) == [200, 204])
        #expect(recorder.messages.last?.isComplete == true)
    }
}

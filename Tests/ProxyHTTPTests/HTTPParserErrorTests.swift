import Testing
@testable import ProxyHTTP

/// Inputs the parser must refuse, each with the kind of error and the status a
/// client gets; the error must not depend on how the input was cut.
@Suite struct HTTPParserErrorTests {
    /// Parses `input` at every split and expects it to fail with `kind`.
    @discardableResult
    private func expectFailure(_ input: String, kind: HTTPParser.Kind = .request, limits: HeadLimits = HeadLimits(),
                               _ errorKind: ParseError.Kind, status: Int,
                               sourceLocation: SourceLocation = #_sourceLocation) -> ParseRun {
        let run = parseSplitAtEveryBoundary(input: bytes(input), kind: kind, limits: limits, sourceLocation: sourceLocation)
        #expect(run.error?.kind == errorKind, "got \(String(describing: run.error))", sourceLocation: sourceLocation)
        #expect(run.error?.statusCode == status, sourceLocation: sourceLocation)
        #expect(!run.messages.map(\.isComplete).contains(true), sourceLocation: sourceLocation)
        return run
    }

    /// Parses `input` at every split and expects one complete message.
    private func expectSuccess(_ input: String, limits: HeadLimits, sourceLocation: SourceLocation = #_sourceLocation) {
        let run = parseSplitAtEveryBoundary(input: bytes(input), kind: .request, limits: limits, sourceLocation: sourceLocation)
        #expect(run.error == nil, sourceLocation: sourceLocation)
        #expect(run.messages.count == 1 && run.messages[0].isComplete, sourceLocation: sourceLocation)
    }

    // MARK: Smuggling shapes (llhttp strict mode)

    // Content-Length together with Transfer-Encoding: chunked, in either order, is refused with 400.
    @Test(arguments: [
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    ])
    func contentLengthWithChunked(input: String) {
        let run = expectFailure(input, .malformed, status: 400)
        #expect(run.messages.isEmpty)
    }

    // Two Content-Length fields with different values are refused with 400.
    @Test func conflictingContentLengths() {
        expectFailure("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", .malformed, status: 400)
    }

    // Two Content-Length fields even with the same value: llhttp strict refuses them too (pinned).
    @Test func repeatedEqualContentLengths() {
        expectFailure("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", .malformed, status: 400)
    }

    // A Content-Length that is not a number is refused with 400.
    @Test func nonNumericContentLength() {
        expectFailure("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\nx", .malformed, status: 400)
    }

    // A chunk size that is not hex is refused with 400 after the head was delivered.
    @Test func badChunkSize() {
        let run = expectFailure("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", .malformed, status: 400)
        #expect(run.messages.count == 1)
        #expect(run.messages.first?.body.isEmpty == true)
    }

    // Transfer-Encoding other than a final chunked on a request is refused (length unknowable).
    @Test func transferEncodingNotEndingInChunked() {
        expectFailure("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc", .malformed, status: 400)
    }

    // obs-fold is NOT refused by llhttp 8.1 strict (pinned): the CRLF is dropped, the fold's whitespace stays (RFC 9112 5.2 allows this).
    @Test(arguments: [("X-Long: first\r\n  continued", "X-Long: first  continued"), ("X-Long: first\r\n\tcont", "X-Long: first\tcont")])
    func obsFoldJoinsValue(field: String, joined: String) throws {
        let run = parseSplitAtEveryBoundary(input: bytes("GET / HTTP/1.1\r\nHost: a\r\n\(field)\r\nX-Next: n\r\n\r\n"), kind: .request)
        #expect(run.error == nil)
        let message = try #require(run.messages.first)
        #expect(message.head.fields == ["Host: a", joined, "X-Next: n"])
        #expect(message.isComplete)
    }

    // Whitespace starting the first field line (a fold with nothing to continue) is refused with 400.
    @Test func whitespaceAfterStartLine() {
        expectFailure("GET / HTTP/1.1\r\n continued\r\nHost: a\r\n\r\n", .malformed, status: 400)
    }

    // Bare LF, llhttp 8.1 strict (pinned): accepted after the start line and as the empty line ending the head.
    @Test(arguments: [
        ("GET /lf HTTP/1.1\nHost: a\r\n\r\n", HTTPParser.Kind.request),
        ("GET /lf HTTP/1.1\r\nHost: a\r\n\n", .request),
        ("HTTP/1.1 200 OK\nContent-Length: 0\r\n\n", .response),
    ])
    func bareLineFeedAccepted(input: String, kind: HTTPParser.Kind) throws {
        let run = parseSplitAtEveryBoundary(input: bytes(input), kind: kind)
        #expect(run.error == nil)
        let message = try #require(run.messages.first)
        #expect(message.head.fields.count == 1)
        #expect(message.isComplete)
    }

    // Bare LF, llhttp 8.1 strict (pinned): refused with 400 after a field value and inside chunked framing.
    @Test(arguments: [
        ("GET /lf HTTP/1.1\nHost: a\nX-B: b\n\n", HTTPParser.Kind.request),
        ("HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", .response),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\nhi\r\n0\r\n\r\n", .request),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\n0\r\n\r\n", .request),
    ])
    func bareLineFeedRefused(input: String, kind: HTTPParser.Kind) {
        expectFailure(input, kind: kind, .malformed, status: 400)
    }

    // A NUL byte in a header value is refused with 400.
    @Test func nulInHeaderValue() {
        expectFailure("GET / HTTP/1.1\r\nX-Bad: a\u{0}b\r\n\r\n", .malformed, status: 400)
    }

    // A CR not followed by LF inside a header value is refused with 400.
    @Test func bareCarriageReturnInHeaderValue() {
        expectFailure("GET / HTTP/1.1\r\nX-Bad: a\rb\r\n\r\n", .malformed, status: 400)
    }

    // Unknown or lower-case methods are refused with 400.
    @Test(arguments: ["FOO / HTTP/1.1\r\n\r\n", "get / HTTP/1.1\r\n\r\n"])
    func invalidMethod(input: String) {
        expectFailure(input, .malformed, status: 400)
    }

    // A malformed status line is refused.
    @Test func invalidStatusLine() {
        expectFailure("HTTP/1.1 abc OK\r\n\r\n", kind: .response, .malformed, status: 400)
    }

    // The peer closing in the middle of a body: finish() fails.
    @Test func finishMidBodyFails() {
        let parser = HTTPParser(kind: .request)
        let recorder = ParserRecorder()
        parser.delegate = recorder
        #expect(parser.execute(bytes("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")) == .consumedAll)
        guard case .failed(let error) = parser.finish() else {
            Issue.record("finish() mid-body should fail")
            return
        }
        #expect(error.kind == .malformed)
        #expect(recorder.messages.first?.isComplete == false)
    }

    // MARK: Limits

    // A target of exactly maxTargetBytes passes; one byte more is 414.
    @Test func targetLimit() {
        let limits = HeadLimits(maxTargetBytes: 16, maxHeaderBytes: 256, maxHeaderCount: 8)
        let fits = "/" + String(repeating: "a", count: 15)
        expectSuccess("GET \(fits) HTTP/1.1\r\nHost: a\r\n\r\n", limits: limits)
        let run = expectFailure("GET \(fits)b HTTP/1.1\r\nHost: a\r\n\r\n", limits: limits, .targetTooLong, status: 414)
        #expect(run.messages.isEmpty)
    }

    // A target far longer than both limits is still 414, not 431, when it arrives in one read.
    @Test func hugeTargetIsTargetTooLong() {
        let limits = HeadLimits(maxTargetBytes: 16, maxHeaderBytes: 8, maxHeaderCount: 8)
        let target = "/" + String(repeating: "a", count: 63)
        expectFailure("GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n", limits: limits, .targetTooLong, status: 414)
    }

    // maxHeaderCount fields pass; one more is 431.
    @Test func headerCountLimit() {
        let limits = HeadLimits(maxTargetBytes: 64, maxHeaderBytes: 1024, maxHeaderCount: 3)
        expectSuccess("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits: limits)
        let run = expectFailure("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", limits: limits, .headersTooLarge, status: 431)
        #expect(run.messages.isEmpty)
    }

    // A header section larger than maxHeaderBytes is 431; a smaller one passes.
    @Test func headerBytesLimit() {
        let limits = HeadLimits(maxTargetBytes: 64, maxHeaderBytes: 64, maxHeaderCount: 100)
        expectSuccess("GET / HTTP/1.1\r\nX-Value: \(String(repeating: "v", count: 40))\r\n\r\n", limits: limits)
        expectFailure("GET / HTTP/1.1\r\nX-Value: \(String(repeating: "v", count: 100))\r\n\r\n", limits: limits, .headersTooLarge, status: 431)
        let many = (0..<10).map { "X-\($0): vvvvvv\r\n" }.joined()
        expectFailure("GET / HTTP/1.1\r\n\(many)\r\n", limits: limits, .headersTooLarge, status: 431)
    }

    // A response head is held to the same limits.
    @Test func responseHeaderLimit() {
        let limits = HeadLimits(maxTargetBytes: 64, maxHeaderBytes: 64, maxHeaderCount: 2)
        expectFailure("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nContent-Length: 0\r\n\r\n", kind: .response, limits: limits,
                      .headersTooLarge, status: 431)
    }
}

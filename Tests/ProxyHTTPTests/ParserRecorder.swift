import Testing
@testable import ProxyHTTP

/// A head copied out of `MessageHead` into plain values, so it can be compared
/// after the parser has moved on.
struct RecordedHead: Equatable, CustomStringConvertible {
    var method: String
    var methodKind: HTTPMethod
    var target: String
    var path: String
    var status: Int
    var reason: String
    /// Each field as `"Name: value"`, in arrival order (values as `value(at:)` gives them).
    var fields: [String]
    var isChunked: Bool
    var contentLength: UInt64?
    var isUpgrade: Bool
    var keepAlive: Bool
    var version: String

    init(_ head: MessageHead) {
        method = String(decoding: head.methodBytes, as: UTF8.self)
        methodKind = head.method
        target = String(decoding: head.target, as: UTF8.self)
        path = String(decoding: head.path, as: UTF8.self)
        status = head.statusCode
        reason = String(decoding: head.reasonPhrase, as: UTF8.self)
        fields = (0..<head.fieldCount).map { index in
            String(decoding: head.name(at: index), as: UTF8.self) + ": " + String(decoding: head.value(at: index), as: UTF8.self)
        }
        isChunked = head.isChunked
        contentLength = head.contentLength
        isUpgrade = head.isUpgrade
        keepAlive = head.keepAlive
        version = "\(head.versionMajor).\(head.versionMinor)"
    }

    var description: String {
        "\(method) \(target) \(status) \(reason) v\(version) \(fields) chunked=\(isChunked) cl=\(String(describing: contentLength)) "
            + "upgrade=\(isUpgrade) keepAlive=\(keepAlive)"
    }
}

/// One message as the delegate saw it.
struct RecordedMessage: Equatable {
    var head: RecordedHead
    var body: [UInt8] = []
    var isComplete = false
    /// The head's fields when the message completed: trailers must not be among them.
    var fieldsAtCompletion: [String]?

    var bodyString: String { String(decoding: body, as: UTF8.self) }
}

/// A delegate that records every event.
final class ParserRecorder: HTTPParserDelegate {
    var messages: [RecordedMessage] = []
    /// Body bytes that arrived with no head before them (should stay empty).
    var strayBody: [UInt8] = []
    var strayCompletions = 0
    /// Returned from `parserDidCompleteMessage`.
    var pauseAfterMessage = false
    /// Returned from `parserDidCompleteHead`, one per head; `.asFramed` once used up.
    var bodyExpectations: [BodyExpectation] = []

    func parserDidCompleteHead(_ parser: HTTPParser) -> BodyExpectation {
        messages.append(RecordedMessage(head: RecordedHead(parser.head)))
        return bodyExpectations.isEmpty ? .asFramed : bodyExpectations.removeFirst()
    }

    func parser(_ parser: HTTPParser, didReceiveBody bytes: RawSpan) {
        bytes.withUnsafeBytes { raw in
            if messages.isEmpty { strayBody.append(contentsOf: raw) } else { messages[messages.count - 1].body.append(contentsOf: raw) }
        }
    }

    func parserDidCompleteMessage(_ parser: HTTPParser) -> Bool {
        if messages.isEmpty {
            strayCompletions += 1
        } else {
            messages[messages.count - 1].isComplete = true
            messages[messages.count - 1].fieldsAtCompletion = RecordedHead(parser.head).fields
        }
        return pauseAfterMessage
    }
}

/// Everything one run of a parser over some input produced.
struct ParseRun: Equatable {
    var messages: [RecordedMessage] = []
    var strayBody: [UInt8] = []
    var strayCompletions = 0
    /// How many times `execute` paused (each followed by `resume()`).
    var pauses = 0
    /// The bytes after the head when the message switched protocols.
    var upgradeTail: [UInt8]?
    var error: ParseError?
    /// What `finish()` returned, when it was called.
    var finishOutcome: ParseOutcome?
}

extension HTTPParser {
    func execute(_ bytes: ArraySlice<UInt8>) -> ParseOutcome {
        bytes.withUnsafeBytes { execute($0.bytes) }
    }

    func execute(_ bytes: [UInt8]) -> ParseOutcome {
        execute(bytes[...])
    }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Feeds `chunks` one after the other to a fresh parser. A pause is resumed at
/// once with the rest of its chunk; an upgrade or failure stops the run.
func parseChunks(_ chunks: [ArraySlice<UInt8>], kind: HTTPParser.Kind, limits: HeadLimits = HeadLimits(),
                 bodyExpectations: [BodyExpectation] = [], pauseAfterMessage: Bool = false, finish: Bool = false) -> ParseRun {
    let parser = HTTPParser(kind: kind, limits: limits)
    let recorder = ParserRecorder()
    recorder.bodyExpectations = bodyExpectations
    recorder.pauseAfterMessage = pauseAfterMessage
    parser.delegate = recorder
    var run = ParseRun()
    var stopped = false
    chunkLoop: for (chunkIndex, chunk) in chunks.enumerated() {
        var rest = chunk
        while true {
            switch parser.execute(rest) {
            case .consumedAll:
                continue chunkLoop
            case .paused(let consumed):
                run.pauses += 1
                parser.resume()
                rest = rest.dropFirst(consumed)
            case .upgraded(let consumed):
                run.upgradeTail = Array(rest.dropFirst(consumed)) + chunks[(chunkIndex + 1)...].flatMap { $0 }
                stopped = true
                break chunkLoop
            case .failed(let error):
                run.error = error
                stopped = true
                break chunkLoop
            }
        }
    }
    if finish, !stopped { run.finishOutcome = parser.finish() }
    run.messages = recorder.messages
    run.strayBody = recorder.strayBody
    run.strayCompletions = recorder.strayCompletions
    return run
}

/// Parses `input` whole, then split in two at every point, then byte by byte,
/// and expects every way of cutting it to give the same run. Returns the run
/// of the whole input.
@discardableResult
func parseSplitAtEveryBoundary(input: [UInt8], kind: HTTPParser.Kind, limits: HeadLimits = HeadLimits(),
                               bodyExpectations: [BodyExpectation] = [], pauseAfterMessage: Bool = false, finish: Bool = false,
                               sourceLocation: SourceLocation = #_sourceLocation) -> ParseRun {
    func run(_ chunks: [ArraySlice<UInt8>]) -> ParseRun {
        parseChunks(chunks, kind: kind, limits: limits, bodyExpectations: bodyExpectations,
                    pauseAfterMessage: pauseAfterMessage, finish: finish)
    }
    let whole = run([input[...]])
    for split in 0...input.count {
        let cut = run([input[..<split], input[split...]])
        // Stop at the first mismatch: one failure explains the rest.
        guard cut == whole else {
            Issue.record("split at byte \(split) of \(input.count) differs:\n  split: \(cut)\n  whole: \(whole)",
                         sourceLocation: sourceLocation)
            return whole
        }
    }
    let byteByByte = run(input.indices.map { input[$0...$0] })
    #expect(byteByByte == whole, "byte by byte differs:\n  bytes: \(byteByByte)\n  whole: \(whole)", sourceLocation: sourceLocation)
    return whole
}

/// The head of the first message in `text` (which must parse at least that far).
func parseHead(_ text: String, kind: HTTPParser.Kind = .request, consumedField: StaticString? = nil,
               sourceLocation: SourceLocation = #_sourceLocation) -> MessageHead {
    let parser = HTTPParser(kind: kind, consumedField: consumedField)
    let recorder = ParserRecorder()
    parser.delegate = recorder
    let outcome = parser.execute(bytes(text))
    if case .failed(let error) = outcome { Issue.record("head did not parse: \(error)", sourceLocation: sourceLocation) }
    #expect(recorder.messages.count == 1, "expected exactly one head", sourceLocation: sourceLocation)
    return parser.head
}

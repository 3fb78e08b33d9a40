private import CLLHTTP

public protocol HTTPParserDelegate: AnyObject {
    /// The head is complete and readable in `parser.head`.
    func parserDidCompleteHead(_ parser: HTTPParser) -> BodyExpectation
    /// A run of body bytes (de-chunked); valid only during the call.
    func parser(_ parser: HTTPParser, didReceiveBody bytes: RawSpan)
    /// The message is complete. Return `true` to pause parsing here.
    func parserDidCompleteMessage(_ parser: HTTPParser) -> Bool
}

/// What the receiver knows about a body that the head alone does not say.
public enum BodyExpectation: Sendable {
    /// Frame the body as the head says.
    case asFramed
    /// There is no body whatever the head says (the response to HEAD).
    case none
    /// Stop before the body: `execute` returns `.paused` right after the head,
    /// and `resume()` goes on with the body later.
    case pauseBeforeBody
}

/// What became of the bytes given to `execute`.
public enum ParseOutcome: Equatable, Sendable {
    /// Every byte was parsed.
    case consumedAll
    /// The delegate paused after a complete message; bytes after `consumed`
    /// belong to the next message.
    case paused(consumed: Int)
    /// The message switched protocols; bytes after `consumed` are the new protocol.
    case upgraded(consumed: Int)
    case failed(ParseError)
}

/// An HTTP/1.x request or response parser: llhttp in strict mode, with the
/// head collected into a reused `MessageHead`. No I/O happens here.
public final class HTTPParser {
    public enum Kind: Sendable { case request, response }

    private let state: UnsafeMutablePointer<llhttp_t>
    public let kind: Kind
    public let limits: HeadLimits
    /// Held strongly (see Stream.delegate): the owner sets it to nil when it
    /// is done with the parser, which breaks the cycle.
    public var delegate: HTTPParserDelegate?

    public let head: MessageHead
    /// True from the first byte of a message until its head is complete.
    public private(set) var isReadingHead = false
    /// True between the first byte of a message and its end.
    public private(set) var isInMessage = false
    private var inTrailers = false
    private var limitError: ParseError?
    private var interimResponses = 0
    /// The field being received, and how far (no callback marks the end of
    /// a name: the first value byte, or the end of the field, does).
    private var pendingField = MessageHead.Field(nameStart: 0, nameEnd: 0, valueStart: 0, valueEnd: 0)
    private var pendingFieldStage = FieldStage.none
    private enum FieldStage { case none, name, value }
    /// The head's bytes as they arrive, copied into `head.bytes` once complete.
    private let headBytes = HeadBuffer()
    /// How many of `headBytes` are in `head.bytes` (-1: none of this message's).
    private var copiedHeadBytes = -1

    /// The llhttp version compiled in (`8.1.0`).
    public static let llhttpVersion = "\(LLHTTP_VERSION_MAJOR).\(LLHTTP_VERSION_MINOR).\(LLHTTP_VERSION_PATCH)"

    /// `consumedField`: the lower-case name of a field the owner reads
    /// itself; its fields get the role `.consumed` (`head.firstValue(of:
    /// .consumed)`), and `HeadWriter` does not forward them.
    public init(kind: Kind, limits: HeadLimits = HeadLimits(), consumedField: StaticString? = nil) {
        if let consumedField {
            precondition(consumedField.hasPointerRepresentation && consumedField.withUTF8Buffer { name in
                FieldRole.isValidName(name) && !name.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
            }, "a consumed field is named by a lower-case token")
        }
        self.kind = kind
        self.limits = limits
        head = MessageHead(consumedField: consumedField)
        state = .allocate(capacity: 1)
        llhttp_init(state, kind == .request ? HTTP_REQUEST : HTTP_RESPONSE, parserSettings)
        state.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit { state.deallocate() }

    /// Parses `bytes`, calling the delegate along the way.
    public func execute(_ bytes: RawSpan) -> ParseOutcome {
        bytes.withUnsafeBytes { raw in
            let start = raw.baseAddress?.assumingMemoryBound(to: CChar.self)
            let result = llhttp_execute(state, start, raw.count)
            return outcome(result, start: start)
        }
    }

    /// Tells the parser the peer closed: completes a message delimited by the
    /// end of the connection, or fails one that was cut short.
    public func finish() -> ParseOutcome {
        outcome(llhttp_finish(state), start: nil)
    }

    /// Continues after `.paused`.
    public func resume() { llhttp_resume(state) }

    /// Forgets everything: the next byte starts a new message.
    public func reset() {
        llhttp_reset(state)
        head.reset()
        headBytes.removeAll()
        copiedHeadBytes = -1
        isReadingHead = false
        isInMessage = false
        inTrailers = false
        limitError = nil
        interimResponses = 0
    }

    /// The message ends only when the peer closes (a response without length).
    public var needsEndOfStream: Bool { llhttp_message_needs_eof(state) == 1 }

    private func outcome(_ result: llhttp_errno_t, start: UnsafePointer<CChar>?) -> ParseOutcome {
        switch result {
        case HPE_OK:
            return .consumedAll
        case HPE_PAUSED:
            return .paused(consumed: consumedCount(from: start))
        case HPE_PAUSED_UPGRADE:
            return .upgraded(consumed: consumedCount(from: start))
        default:
            // A head cut short by an error is readable as far as it went.
            if isReadingHead { copyHeadBytes() }
            if let limitError { return .failed(limitError) }
            let reason = llhttp_get_error_reason(state).map { String(cString: $0) } ?? "invalid HTTP"
            return .failed(ParseError(kind: .malformed, reason: reason))
        }
    }

    /// Makes a head that is still arriving readable as far as it goes (the
    /// access log of a request that timed out mid-head). Not done after
    /// every read: a head trickled in small reads would be copied again and
    /// again.
    public func makeIncompleteHeadReadable() {
        if isReadingHead { copyHeadBytes() }
    }

    /// The head's bytes into `head.bytes`: one copy per head, not one per callback.
    private func copyHeadBytes() {
        guard copiedHeadBytes != headBytes.count else { return }
        copiedHeadBytes = headBytes.count
        headBytes.withUnsafeBytes { head.bytes.replaceSubrange(head.bytes.startIndex..<head.bytes.endIndex, with: $0) }
    }

    private func consumedCount(from start: UnsafePointer<CChar>?) -> Int {
        guard let start, let position = llhttp_get_error_pos(state) else { return 0 }
        return position - start
    }

    // MARK: Events from llhttp (see the trampolines below)

    fileprivate func messageDidBegin() {
        head.reset()
        headBytes.removeAll()
        copiedHeadBytes = -1
        isReadingHead = true
        isInMessage = true
        inTrailers = false
        pendingFieldStage = .none
    }

    fileprivate func append(_ bytes: UnsafeRawBufferPointer) -> Bool {
        headBytes.append(bytes)
        if headBytes.count > limits.maxHeaderBytes + limits.maxTargetBytes {
            limitError = ParseError(kind: .headersTooLarge, reason: "header section larger than \(limits.maxHeaderBytes) bytes")
            return false
        }
        return true
    }

    fileprivate func didReceiveMethod(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        let start = head.methodRange.isEmpty ? headBytes.count : head.methodRange.lowerBound
        guard append(bytes) else { return -1 }
        head.methodRange = start..<headBytes.count
        return 0
    }

    fileprivate func didReceiveTarget(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        let start = head.targetRange.isEmpty ? headBytes.count : head.targetRange.lowerBound
        if headBytes.count - start + bytes.count > limits.maxTargetBytes {
            limitError = ParseError(kind: .targetTooLong, reason: "request target longer than \(limits.maxTargetBytes) bytes")
            return -1
        }
        guard append(bytes) else { return -1 }
        head.targetRange = start..<headBytes.count
        return 0
    }

    fileprivate func didReceiveReason(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        let start = head.reasonRange.isEmpty ? headBytes.count : head.reasonRange.lowerBound
        guard append(bytes) else { return -1 }
        head.reasonRange = start..<headBytes.count
        return 0
    }

    fileprivate func didReceiveFieldName(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        if inTrailers { return 0 }
        if pendingFieldStage != .name {
            let at = Int32(headBytes.count)
            pendingField = MessageHead.Field(nameStart: at, nameEnd: at, valueStart: at, valueEnd: at)
            pendingFieldStage = .name
        }
        guard append(bytes) else { return -1 }
        pendingField.nameEnd = Int32(headBytes.count)
        return 0
    }

    fileprivate func didReceiveFieldValue(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        if inTrailers { return 0 }
        if pendingFieldStage != .value {
            pendingField.valueStart = Int32(headBytes.count)
            pendingFieldStage = .value
        }
        guard append(bytes) else { return -1 }
        pendingField.valueEnd = Int32(headBytes.count)
        return 0
    }

    fileprivate func didCompleteFieldValue() -> Int32 {
        if inTrailers { return 0 }
        if pendingFieldStage == .name {
            // An empty value: no value callback came.
            pendingField.valueStart = Int32(headBytes.count)
            pendingField.valueEnd = pendingField.valueStart
        }
        if pendingFieldStage != .none {
            pendingFieldStage = .none
            let valid = headBytes.withUnsafeBytes { head.addField(pendingField, in: $0) }
            guard valid else {
                limitError = ParseError(kind: .malformed, reason: "invalid header field name")
                return -1
            }
        }
        if head.fieldCount > limits.maxHeaderCount {
            limitError = ParseError(kind: .headersTooLarge, reason: "more than \(limits.maxHeaderCount) header fields")
            return -1
        }
        if headBytes.count - head.targetRange.count > limits.maxHeaderBytes {
            limitError = ParseError(kind: .headersTooLarge, reason: "header section larger than \(limits.maxHeaderBytes) bytes")
            return -1
        }
        return 0
    }

    fileprivate func didCompleteHead() -> Int32 {
        copyHeadBytes()
        head.noteConnectionTokens()
        head.versionMajor = llhttp_get_http_major(state)
        head.versionMinor = llhttp_get_http_minor(state)
        head.statusCode = Int(llhttp_get_status_code(state))
        head.method = HTTPMethod(rawValue: llhttp_get_method(state)) ?? .other
        let flags = UInt32(state.pointee.flags)
        head.isChunked = flags & F_CHUNKED.rawValue != 0
        head.contentLength = flags & F_CONTENT_LENGTH.rawValue != 0 ? state.pointee.content_length : nil
        head.isUpgrade = state.pointee.upgrade != 0
        if kind == .request, head.isUpgrade, head.method != .connect, !UpgradeCheck.offersProtocolOtherThanH2C(head) {
            // An upgrade to h2c alone is an ordinary request (UpgradeCheck):
            // llhttp then reads on past it instead of stopping at a switch.
            head.isUpgrade = false
            state.pointee.upgrade = 0
        }
        head.keepAlive = llhttp_should_keep_alive(state) == 1
        isReadingHead = false
        inTrailers = true
        if head.isChunked, !head.transferCodingIsOnlyChunked {
            limitError = ParseError(kind: .unsupportedTransferCoding, reason: "transfer coding other than chunked")
            return -1
        }
        if let problem = kind == .request ? requestProblem() : responseProblem() {
            limitError = problem
            return -1
        }
        let expectation = delegate?.parserDidCompleteHead(self) ?? .asFramed
        // RFC 9112 6.3: 1xx, 204 and 304 responses never have a body, whatever
        // their Content-Length or Transfer-Encoding says (llhttp 8.1 leaves
        // that to us). A 101 included: llhttp 8.1 switches right after its
        // head only when it sees no body; with a length or chunks it would
        // read the new protocol's first bytes as a body (found by the fuzzer).
        let status = head.statusCode
        let bodiless = kind == .response && ((status >= 100 && status < 200) || status == 204 || status == 304)
        if expectation == .pauseBeforeBody { return Int32(HPE_PAUSED.rawValue) }
        guard expectation == .none || bodiless else { return 0 }
        if !head.keepAlive {
            // A message without a body needs no end of stream to delimit it
            // (a response to HEAD without Content-Length): ask llhttp again as
            // it will see the message once it skips the body.
            state.pointee.flags |= numericCast(F_SKIPBODY.rawValue)
            head.keepAlive = llhttp_should_keep_alive(state) == 1
        }
        return 1
    }

    /// What RFC 9112 forbids in a request head that llhttp lets through.
    private func requestProblem() -> ParseError? {
        if head.versionMajor == 0 { return ParseError(kind: .malformed, reason: "HTTP/0.9 is not supported") }
        if head.versionMajor != 1 || head.versionMinor > 1 {
            return ParseError(kind: .unsupportedVersion, reason: "HTTP version \(head.versionMajor).\(head.versionMinor) not supported")
        }
        let target = head.target
        if target.contains(where: { $0 <= 0x20 || $0 == 0x7F }) { return ParseError(kind: .malformed, reason: "invalid request target") }
        if target.elementsEqual("*".utf8), head.method != .options {
            return ParseError(kind: .malformed, reason: "asterisk-form is only for OPTIONS")
        }
        var hosts = 0
        for index in 0..<head.fieldCount where head.role(at: index) == .host {
            hosts += 1
            if !FieldRole.isValidHost(head.value(at: index)) { return ParseError(kind: .malformed, reason: "invalid Host") }
        }
        if hosts > 1 { return ParseError(kind: .malformed, reason: "more than one Host") }
        if hosts == 0 && head.versionMinor == 1 && limits.requiresHost {
            return ParseError(kind: .malformed, reason: "HTTP/1.1 request without Host")
        }
        // RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 is faulty framing: answer, then close.
        if head.versionMinor == 0 && head.isChunked { head.keepAlive = false }
        return nil
    }

    /// RFC 9110 15: a status is 100 to 599; the reason phrase holds no
    /// control byte but HTAB. Interim responses are bounded: an endless run
    /// of them is an attack.
    private func responseProblem() -> ParseError? {
        let status = head.statusCode
        if status < 100 || status > 599 { return ParseError(kind: .malformed, reason: "status \(status) out of range") }
        if head.reasonPhrase.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) {
            return ParseError(kind: .malformed, reason: "control byte in the reason phrase")
        }
        // RFC 9110 15.2.2: a 101 names the protocol it switches to. Without
        // `Upgrade` and `Connection: upgrade` llhttp does not switch and would
        // read what follows as this response's body: no valid reading exists.
        if status == 101 && !head.isUpgrade {
            return ParseError(kind: .malformed, reason: "101 without Upgrade and Connection: upgrade")
        }
        if status >= 100 && status < 200 && status != 101 {
            interimResponses += 1
            if interimResponses > limits.maxInterimResponses {
                return ParseError(kind: .malformed, reason: "more than \(limits.maxInterimResponses) interim responses")
            }
        } else {
            interimResponses = 0
        }
        return nil
    }

    fileprivate func didReceiveBody(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        delegate?.parser(self, didReceiveBody: bytes.bytes)
        return 0
    }

    fileprivate func didCompleteMessage() -> Int32 {
        isInMessage = false
        let pause = delegate?.parserDidCompleteMessage(self) ?? false
        return pause ? Int32(HPE_PAUSED.rawValue) : 0
    }
}

// MARK: - C trampolines: recover the parser, call one method.

/// Calls `body` with the parser, without a retain and release around each
/// callback (the parser is alive: it is running `llhttp_execute`).
@inline(__always)
private func parser<R>(_ state: UnsafeMutablePointer<llhttp_t>?, _ body: (HTTPParser) -> R) -> R {
    Unmanaged<HTTPParser>.fromOpaque(state!.pointee.data)._withUnsafeGuaranteedRef(body)
}

private func raw(_ at: UnsafePointer<CChar>?, _ length: Int) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: at, count: length)
}

/// llhttp keeps a pointer to its settings: one static allocation serves all parsers.
nonisolated(unsafe) private let parserSettings: UnsafeMutablePointer<llhttp_settings_t> = {
    let settings = UnsafeMutablePointer<llhttp_settings_t>.allocate(capacity: 1)
    llhttp_settings_init(settings)
    settings.pointee.on_message_begin = { state in parser(state) { $0.messageDidBegin() }; return 0 }
    settings.pointee.on_method = { state, at, length in parser(state) { $0.didReceiveMethod(raw(at, length)) } }
    settings.pointee.on_url = { state, at, length in parser(state) { $0.didReceiveTarget(raw(at, length)) } }
    settings.pointee.on_status = { state, at, length in parser(state) { $0.didReceiveReason(raw(at, length)) } }
    settings.pointee.on_header_field = { state, at, length in parser(state) { $0.didReceiveFieldName(raw(at, length)) } }
    settings.pointee.on_header_value = { state, at, length in parser(state) { $0.didReceiveFieldValue(raw(at, length)) } }
    settings.pointee.on_header_value_complete = { state in parser(state) { $0.didCompleteFieldValue() } }
    settings.pointee.on_headers_complete = { state in parser(state) { $0.didCompleteHead() } }
    settings.pointee.on_body = { state, at, length in parser(state) { $0.didReceiveBody(raw(at, length)) } }
    settings.pointee.on_message_complete = { state in parser(state) { $0.didCompleteMessage() } }
    return settings
}()

/// Writes the heads this proxy sends: the request going upstream and the
/// response going to the client. End-to-end fields are copied as bytes, in
/// order; hop-by-hop fields are dropped and each hop's own are written.
public enum HeadWriter {
    /// What the proxy adds to a request about the client it came from.
    public struct Forwarding {
        /// The client's IP address as text, appended to `X-Forwarded-For`.
        public var clientAddress: [UInt8]
        /// `http`, set as `X-Forwarded-Proto` unless an earlier proxy set it.
        public var scheme: [UInt8]

        public init(clientAddress: [UInt8], scheme: [UInt8] = Array("http".utf8)) {
            self.clientAddress = clientAddress
            self.scheme = scheme
        }
    }

    /// The request line and fields for the upstream, always HTTP/1.1.
    /// `extraFields` and `moreFields` hold complete `Name: value\r\n` lines
    /// to add (two, so callers need not join them).
    public static func writeRequest(_ head: MessageHead, framing: BodyFraming, forwarding: Forwarding,
                                    extraFields: [UInt8] = [], moreFields: [UInt8] = [], into out: HeadBuffer) {
        out.removeAll()
        head.bytes.withUnsafeBufferPointer { bytes in
            append(bytes, head.methodRange, to: out)
            out.append(0x20)
            append(bytes, head.targetRange, to: out)
            out.append(" HTTP/1.1\r\n")
            for index in 0..<head.fieldCount {
                let field = head.fields[index]
                switch field.role {
                case .hopByHop, .connection, .transferEncoding, .forwardedFor, .consumed:
                    // Hop-by-hop, or rewritten below, or consumed by the
                    // receiver (the field its parser was told of), not for the next hop.
                    continue
                case .upgrade:
                    if head.isUpgrade { appendUpgradeField(head, index, bytes, field, to: out) }
                    continue
                default:
                    if head.connectionNamesOtherFields, !field.role.isProtectedFromConnection,
                       HeaderName.isNamedByConnection(head.name(at: index), in: head) { continue }
                    appendField(bytes, field, to: out)
                }
            }
            // HTTP/1.1 requires Host; an HTTP/1.0 request without one gets the
            // empty value RFC 9112 3.2 prescribes for an unknown authority.
            if !head.contains(.host) { out.append("Host: \r\n") }
            if head.isUpgrade { out.append("Connection: upgrade\r\n") }
            if framing == .chunked { out.append("Transfer-Encoding: chunked\r\n") }

            out.append("X-Forwarded-For: ")
            if head.contains(.forwardedFor) {
                for index in 0..<head.fieldCount where head.fields[index].role == .forwardedFor {
                    let field = head.fields[index]
                    append(bytes, Int(field.valueStart)..<Int(trimmedEnd(bytes, field)), to: out)
                    out.append(", ")
                }
            }
            out.append(forwarding.clientAddress)
            out.append("\r\n")
            if !head.contains(.forwardedProto) {
                out.append("X-Forwarded-Proto: ")
                out.append(forwarding.scheme)
                out.append("\r\n")
            }
            if !head.contains(.forwardedHost), head.contains(.host) {
                let host = head.fields[Int(head.firstIndexByRole[Int(FieldRole.host.rawValue)])]
                out.append("X-Forwarded-Host: ")
                append(bytes, Int(host.valueStart)..<Int(trimmedEnd(bytes, host)), to: out)
                out.append("\r\n")
            }
        }
        out.append(extraFields)
        if !moreFields.isEmpty { out.append(moreFields) }
        out.append("\r\n")
    }

    /// The status line and fields for the client, always `HTTP/1.1`.
    public static func writeResponse(_ head: MessageHead, framing: BodyFraming, keepAlive: Bool, clientIsHTTP10: Bool,
                                     extraFields: [UInt8] = [], moreFields: [UInt8] = [], into out: HeadBuffer) {
        out.removeAll()
        out.append("HTTP/1.1 ")
        appendStatus(head.statusCode, into: out)
        out.append(0x20)
        let switching = head.statusCode == 101
        head.bytes.withUnsafeBufferPointer { bytes in
            append(bytes, head.reasonRange, to: out)
            out.append("\r\n")
            for index in 0..<head.fieldCount {
                let field = head.fields[index]
                switch field.role {
                case .hopByHop, .connection, .transferEncoding, .consumed:
                    continue
                case .upgrade:
                    if switching { appendField(bytes, field, to: out) }
                    continue
                default:
                    if head.connectionNamesOtherFields, !field.role.isProtectedFromConnection,
                       HeaderName.isNamedByConnection(head.name(at: index), in: head) { continue }
                    appendField(bytes, field, to: out)
                }
            }
        }
        if switching {
            out.append("Connection: upgrade\r\n")
        } else if head.statusCode >= 200 {
            if framing == .chunked { out.append("Transfer-Encoding: chunked\r\n") }
            appendConnection(keepAlive: keepAlive, clientIsHTTP10: clientIsHTTP10, into: out)
        }
        out.append(extraFields)
        if !moreFields.isEmpty { out.append(moreFields) }
        out.append("\r\n")
    }

    @inline(__always)
    private static func append(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, to out: HeadBuffer) {
        out.append(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[range]))
    }

    /// `Name: value\r\n` with the value's trailing white space trimmed.
    @inline(__always)
    private static func appendField(_ bytes: UnsafeBufferPointer<UInt8>, _ field: MessageHead.Field, to out: HeadBuffer) {
        append(bytes, Int(field.nameStart)..<Int(field.nameEnd), to: out)
        out.append(": ")
        append(bytes, Int(field.valueStart)..<Int(trimmedEnd(bytes, field)), to: out)
        out.append("\r\n")
    }

    /// An upgrade request's `Upgrade` field without its `h2c` tokens
    /// (UpgradeCheck), or nothing if no other token is left. Upgrades are
    /// rare: this path may allocate.
    private static func appendUpgradeField(_ head: MessageHead, _ index: Int, _ bytes: UnsafeBufferPointer<UInt8>,
                                           _ field: MessageHead.Field, to out: HeadBuffer) {
        let tokens = head.value(at: index).split(separator: UInt8(ascii: ",")).map(HeaderName.trimmed)
        guard tokens.contains(where: UpgradeCheck.isH2C) else { return appendField(bytes, field, to: out) }
        let kept = tokens.filter { !$0.isEmpty && !UpgradeCheck.isH2C($0) }
        guard !kept.isEmpty else { return }
        append(bytes, Int(field.nameStart)..<Int(field.nameEnd), to: out)
        out.append(": ")
        for (position, token) in kept.enumerated() {
            if position > 0 { out.append(", ") }
            append(bytes, token.startIndex..<token.endIndex, to: out)
        }
        out.append("\r\n")
    }

    @inline(__always)
    private static func trimmedEnd(_ bytes: UnsafeBufferPointer<UInt8>, _ field: MessageHead.Field) -> Int32 {
        var end = field.valueEnd
        while end > field.valueStart, bytes[Int(end) - 1] == 0x20 || bytes[Int(end) - 1] == 0x09 { end -= 1 }
        return end
    }

    /// A complete small response made by the proxy itself (errors, local routes).
    public static func writeLocalResponse(status: Int, reason: StaticString, contentType: StaticString = "text/plain; charset=utf-8",
                                          body: ArraySlice<UInt8>, includeBody: Bool = true, keepAlive: Bool, clientIsHTTP10: Bool,
                                          extraFields: [UInt8] = [], into out: HeadBuffer) {
        out.removeAll()
        out.append("HTTP/1.1 ")
        appendStatus(status, into: out)
        out.append(0x20)
        out.append(reason)
        out.append("\r\nContent-Type: ")
        out.append(contentType)
        out.append("\r\nContent-Length: ")
        appendDecimal(body.count, into: out)
        out.append("\r\n")
        appendConnection(keepAlive: keepAlive, clientIsHTTP10: clientIsHTTP10, into: out)
        out.append(extraFields)
        out.append("\r\n")
        if includeBody { out.append(body) }
    }

    /// This hop's `Connection`: `close` when it ends, `keep-alive` where
    /// HTTP/1.0 needs it said, nothing where HTTP/1.1 implies it.
    private static func appendConnection(keepAlive: Bool, clientIsHTTP10: Bool, into out: HeadBuffer) {
        if !keepAlive {
            out.append("Connection: close\r\n")
        } else if clientIsHTTP10 {
            out.append("Connection: keep-alive\r\n")
        }
    }

    static func appendStatus(_ status: Int, into out: HeadBuffer) {
        let clamped = min(max(status, 100), 999)
        out.append(UInt8(0x30 + clamped / 100))
        out.append(UInt8(0x30 + clamped / 10 % 10))
        out.append(UInt8(0x30 + clamped % 10))
    }

    public static func appendDecimal(_ value: Int, into out: HeadBuffer) {
        if value >= 10 { appendDecimal(value / 10, into: out) }
        out.append(UInt8(0x30 + value % 10))
    }

    public static func appendDecimal(_ value: Int, into out: inout [UInt8]) {
        if value >= 10 { appendDecimal(value / 10, into: &out) }
        out.append(UInt8(0x30 + value % 10))
    }
}

// The same into arrays: for tests and the fuzzers, which compare bytes.
extension HeadWriter {
    public static func writeRequest(_ head: MessageHead, framing: BodyFraming, forwarding: Forwarding,
                                    extraFields: [UInt8] = [], into out: inout [UInt8]) {
        let buffer = HeadBuffer()
        writeRequest(head, framing: framing, forwarding: forwarding, extraFields: extraFields, into: buffer)
        out = buffer.array
    }

    public static func writeResponse(_ head: MessageHead, framing: BodyFraming, keepAlive: Bool, clientIsHTTP10: Bool,
                                     extraFields: [UInt8] = [], into out: inout [UInt8]) {
        let buffer = HeadBuffer()
        writeResponse(head, framing: framing, keepAlive: keepAlive, clientIsHTTP10: clientIsHTTP10, extraFields: extraFields, into: buffer)
        out = buffer.array
    }

    public static func writeLocalResponse(status: Int, reason: StaticString, contentType: StaticString = "text/plain; charset=utf-8",
                                          body: ArraySlice<UInt8>, includeBody: Bool = true, keepAlive: Bool, clientIsHTTP10: Bool,
                                          extraFields: [UInt8] = [], into out: inout [UInt8]) {
        let buffer = HeadBuffer()
        writeLocalResponse(status: status, reason: reason, contentType: contentType, body: body, includeBody: includeBody,
                           keepAlive: keepAlive, clientIsHTTP10: clientIsHTTP10, extraFields: extraFields, into: buffer)
        out = buffer.array
    }

    static func appendStatus(_ status: Int, into out: inout [UInt8]) {
        let buffer = HeadBuffer()
        appendStatus(status, into: buffer)
        out += buffer.array
    }
}

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
    /// `extraFields` holds complete `Name: value\r\n` lines to add.
    public static func writeRequest(_ head: MessageHead, framing: BodyFraming, forwarding: Forwarding,
                                    extraFields: [UInt8] = [], into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.append(contentsOf: head.methodBytes)
        out.append(0x20)
        out.append(contentsOf: head.target)
        out.append(contentsOf: " HTTP/1.1\r\n".utf8)

        let hasConnectionField = head.contains("connection")
        var forwardedFor: [Int] = []
        var hasForwardedProto = false
        var hasForwardedHost = false
        var hostIndex: Int?
        for index in 0..<head.fieldCount {
            let name = head.name(at: index)
            if HeaderName.isHopByHop(name) {
                if head.isUpgrade, HeaderName.equals(name, "upgrade") { appendField(head, index, into: &out) }
                continue
            }
            if hasConnectionField, HeaderName.isNamedByConnection(name, in: head) { continue }
            if HeaderName.equals(name, "x-forwarded-for") { forwardedFor.append(index); continue }
            // Consumed by the proxy (a per-request deadline), not for the runtime.
            if HeaderName.equals(name, "x-request-timeout") { continue }
            if HeaderName.equals(name, "x-forwarded-proto") { hasForwardedProto = true }
            if HeaderName.equals(name, "x-forwarded-host") { hasForwardedHost = true }
            if HeaderName.equals(name, "host") { hostIndex = index }
            appendField(head, index, into: &out)
        }
        // HTTP/1.1 requires Host; an HTTP/1.0 request without one gets the
        // empty value RFC 9112 3.2 prescribes for an unknown authority.
        if hostIndex == nil { out.append(contentsOf: "Host: \r\n".utf8) }
        if head.isUpgrade { out.append(contentsOf: "Connection: upgrade\r\n".utf8) }
        if framing == .chunked { out.append(contentsOf: "Transfer-Encoding: chunked\r\n".utf8) }

        out.append(contentsOf: "X-Forwarded-For: ".utf8)
        for index in forwardedFor {
            out.append(contentsOf: head.value(at: index))
            out.append(contentsOf: ", ".utf8)
        }
        out.append(contentsOf: forwarding.clientAddress)
        out.append(contentsOf: "\r\n".utf8)
        if !hasForwardedProto {
            out.append(contentsOf: "X-Forwarded-Proto: ".utf8)
            out.append(contentsOf: forwarding.scheme)
            out.append(contentsOf: "\r\n".utf8)
        }
        if !hasForwardedHost, let hostIndex {
            out.append(contentsOf: "X-Forwarded-Host: ".utf8)
            out.append(contentsOf: head.value(at: hostIndex))
            out.append(contentsOf: "\r\n".utf8)
        }
        out.append(contentsOf: extraFields)
        out.append(contentsOf: "\r\n".utf8)
    }

    /// The status line and fields for the client, always `HTTP/1.1`.
    public static func writeResponse(_ head: MessageHead, framing: BodyFraming, keepAlive: Bool, clientIsHTTP10: Bool,
                                     extraFields: [UInt8] = [], into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.append(contentsOf: "HTTP/1.1 ".utf8)
        appendStatus(head.statusCode, into: &out)
        out.append(0x20)
        out.append(contentsOf: head.reasonPhrase)
        out.append(contentsOf: "\r\n".utf8)

        let switching = head.statusCode == 101
        let hasConnectionField = head.contains("connection")
        for index in 0..<head.fieldCount {
            let name = head.name(at: index)
            if HeaderName.isHopByHop(name) {
                if switching, HeaderName.equals(name, "upgrade") { appendField(head, index, into: &out) }
                continue
            }
            if hasConnectionField, HeaderName.isNamedByConnection(name, in: head) { continue }
            appendField(head, index, into: &out)
        }
        if switching {
            out.append(contentsOf: "Connection: upgrade\r\n".utf8)
        } else if head.statusCode >= 200 {
            if framing == .chunked { out.append(contentsOf: "Transfer-Encoding: chunked\r\n".utf8) }
            appendConnection(keepAlive: keepAlive, clientIsHTTP10: clientIsHTTP10, into: &out)
        }
        out.append(contentsOf: extraFields)
        out.append(contentsOf: "\r\n".utf8)
    }

    /// A complete small response made by the proxy itself (errors, local routes).
    public static func writeLocalResponse(status: Int, reason: StaticString, contentType: StaticString = "text/plain; charset=utf-8",
                                          body: ArraySlice<UInt8>, includeBody: Bool = true, keepAlive: Bool, clientIsHTTP10: Bool,
                                          extraFields: [UInt8] = [], into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.append(contentsOf: "HTTP/1.1 ".utf8)
        appendStatus(status, into: &out)
        out.append(0x20)
        reason.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(contentsOf: "\r\nContent-Type: ".utf8)
        contentType.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(contentsOf: "\r\nContent-Length: ".utf8)
        appendDecimal(body.count, into: &out)
        out.append(contentsOf: "\r\n".utf8)
        appendConnection(keepAlive: keepAlive, clientIsHTTP10: clientIsHTTP10, into: &out)
        out.append(contentsOf: extraFields)
        out.append(contentsOf: "\r\n".utf8)
        if includeBody { out.append(contentsOf: body) }
    }

    /// This hop's `Connection`: `close` when it ends, `keep-alive` where
    /// HTTP/1.0 needs it said, nothing where HTTP/1.1 implies it.
    private static func appendConnection(keepAlive: Bool, clientIsHTTP10: Bool, into out: inout [UInt8]) {
        if !keepAlive {
            out.append(contentsOf: "Connection: close\r\n".utf8)
        } else if clientIsHTTP10 {
            out.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
    }

    private static func appendField(_ head: MessageHead, _ index: Int, into out: inout [UInt8]) {
        out.append(contentsOf: head.name(at: index))
        out.append(contentsOf: ": ".utf8)
        out.append(contentsOf: head.value(at: index))
        out.append(contentsOf: "\r\n".utf8)
    }

    static func appendStatus(_ status: Int, into out: inout [UInt8]) {
        let clamped = min(max(status, 100), 999)
        out.append(UInt8(0x30 + clamped / 100))
        out.append(UInt8(0x30 + clamped / 10 % 10))
        out.append(UInt8(0x30 + clamped % 10))
    }

    public static func appendDecimal(_ value: Int, into out: inout [UInt8]) {
        if value >= 10 { appendDecimal(value / 10, into: &out) }
        out.append(UInt8(0x30 + value % 10))
    }
}

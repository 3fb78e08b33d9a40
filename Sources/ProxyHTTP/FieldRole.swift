/// What a header field is to this proxy, decided once per field when its
/// name is complete, so writing and looking up never compare names again.
public enum FieldRole: UInt8, Sendable, CaseIterable {
    case ordinary
    /// Connection, Keep-Alive, TE, Trailer, Transfer-Encoding, Proxy-*, HTTP2-Settings: never forwarded.
    case hopByHop
    /// `Upgrade`: hop-by-hop, but kept on upgrade requests and 101 responses.
    case upgrade
    /// `Connection` itself (hop-by-hop; its tokens may name more fields).
    case connection
    /// `Transfer-Encoding` (hop-by-hop; the proxy frames bodies itself).
    case transferEncoding
    case host
    /// `Content-Length`: framing; kept even if `Connection` names it.
    case contentLength
    case userAgent
    case requestID
    /// The field the parser's owner reads itself, named when the parser is
    /// made (`HTTPParser(kind:limits:consumedField:)`): never forwarded.
    case consumed
    case forwardedFor
    case forwardedProto
    case forwardedHost
    /// W3C Trace Context's `traceparent`.
    case traceparent
    /// A CloudEvents binary-mode attribute (`ce-*`); forwarded as it is.
    case cloudEvent

    /// Classifies a field name (any ASCII case) without allocating.
    /// `consumed`: the lower-case name of the field that is `.consumed`.
    static func of(_ name: UnsafeBufferPointer<UInt8>, consumed: StaticString? = nil) -> FieldRole {
        switch name.count {
        case 2: if matches(name, "te") { return .hopByHop }
        case 4: if matches(name, "host") { return .host }
        case 7:
            if matches(name, "upgrade") { return .upgrade }
            if matches(name, "trailer") { return .hopByHop }
        case 10:
            if matches(name, "connection") { return .connection }
            if matches(name, "keep-alive") { return .hopByHop }
            if matches(name, "user-agent") { return .userAgent }
        case 11: if matches(name, "traceparent") { return .traceparent }
        case 12: if matches(name, "x-request-id") { return .requestID }
        case 14:
            if matches(name, "content-length") { return .contentLength }
            // Only meaningful with an h2c upgrade, which is never forwarded (UpgradeCheck).
            if matches(name, "http2-settings") { return .hopByHop }
        case 15: if matches(name, "x-forwarded-for") { return .forwardedFor }
        case 16: if matches(name, "x-forwarded-host") { return .forwardedHost }
        case 17:
            if matches(name, "transfer-encoding") { return .transferEncoding }
            if matches(name, "x-forwarded-proto") { return .forwardedProto }
        default: break
        }
        // The caller's name is compared only when the lengths match (`matches` checks first).
        if let consumed, matches(name, consumed) { return .consumed }
        if name.count > 6, matches(UnsafeBufferPointer(rebasing: name[0..<6]), "proxy-") { return .hopByHop }
        if name.count > 3, matches(UnsafeBufferPointer(rebasing: name[0..<3]), "ce-") { return .cloudEvent }
        return .ordinary
    }

    @inline(__always)
    static func matches(_ name: UnsafeBufferPointer<UInt8>, _ lowercase: StaticString) -> Bool {
        guard name.count == lowercase.utf8CodeUnitCount else { return false }
        let expected = lowercase.utf8Start
        for index in 0..<name.count where HeaderName.lowercased(name[index]) != expected[index] { return false }
        return true
    }

    /// Whether a `Connection` token names a field beyond those every hop
    /// handles anyway (`close`, `keep-alive`, `upgrade`, `te`, ...): only
    /// then must each field be checked against the tokens.
    static func isOrdinaryToken(_ token: ArraySlice<UInt8>) -> Bool {
        !(token.isEmpty || HeaderName.equals(token, "close") || HeaderName.equals(token, "keep-alive")
            || HeaderName.equals(token, "upgrade") || HeaderName.equals(token, "te") || HeaderName.equals(token, "trailer")
            || HeaderName.equals(token, "transfer-encoding"))
    }
}

extension Array where Element == UInt8 {
    /// Appends a literal's bytes (no String machinery).
    @inline(__always)
    public mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { append(contentsOf: $0) }
    }
}

extension FieldRole {
    /// RFC 9110 5.6.2: a field name is one or more token characters.
    static func isValidName(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !name.isEmpty else { return false }
        for byte in name where !isTokenByte(byte) { return false }
        return true
    }

    /// tchar: `!#$%&'*+-.^_`|~`, digits and letters. One load per byte from
    /// a constant table ("1" = tchar) for bytes 0-127.
    @inline(__always)
    static func isTokenByte(_ byte: UInt8) -> Bool {
        byte < 128 && tokenTable.utf8Start[Int(byte)] == UInt8(ascii: "1")
    }

    /// Bytes 0-63, then 64-127.
    private static var tokenTable: StaticString {
        "00000000000000000000000000000000010111110011011011111111110000000111111111111111111111111110001111111111111111111111111111101010"
    }
}

extension FieldRole {
    /// Fields a `Connection` token may not remove: the message's framing and
    /// its authority would change meaning (a body sent without its length is
    /// a second request to the next hop).
    var isProtectedFromConnection: Bool { self == .contentLength || self == .host }

    /// RFC 3986 reg-name, IP-literal and port characters: what a Host value may hold.
    static func isValidHost(_ value: ArraySlice<UInt8>) -> Bool {
        value.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"), UInt8(ascii: "$"),
                 UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"),
                 UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]"),
                 UInt8(ascii: "%"):
                return true
            default:
                return false
            }
        }
    }
}

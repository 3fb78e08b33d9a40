/// The head of one HTTP message as it arrived: request line or status line
/// and header fields, kept as byte ranges into one reused byte array. Nothing
/// is turned into a String on the data path.
///
/// A class: each parser owns one and reuses it for every message, so a
/// reference to it is only good until the parser starts the next message
/// (read what you need in the callback). Handing it around costs one
/// reference count, not a copy of three arrays.
public final class MessageHead {
    struct Field {
        var nameStart: Int32, nameEnd: Int32, valueStart: Int32, valueEnd: Int32
        var role = FieldRole.ordinary
    }

    /// Method, target, reason phrase, field names and values, back to back.
    public internal(set) var bytes: [UInt8] = []
    /// The fields are the first `fieldCount` slots; the array keeps its
    /// length from message to message and slots are overwritten, which is
    /// cheaper than emptying it with `removeAll(keepingCapacity:)` each
    /// message (docs/architecture.md, "The data path", Parse).
    var fields: [Field] = []
    public private(set) var fieldCount = 0
    var methodRange: Range<Int> = 0..<0
    var targetRange: Range<Int> = 0..<0
    var reasonRange: Range<Int> = 0..<0

    public internal(set) var versionMajor: UInt8 = 1
    public internal(set) var versionMinor: UInt8 = 1
    public internal(set) var statusCode = 0
    public internal(set) var method: HTTPMethod = .other
    /// The body is framed by `Transfer-Encoding: chunked`.
    public internal(set) var isChunked = false
    /// `Content-Length` was given (llhttp has checked it is single and valid).
    public internal(set) var contentLength: UInt64?
    /// The message asks to switch protocols (`Connection: upgrade` + `Upgrade`).
    public internal(set) var isUpgrade = false
    /// The sender allows the connection to stay open after this message.
    public internal(set) var keepAlive = true
    /// The first field of each role, -1 where there is none.
    var firstIndexByRole = [Int32](repeating: -1, count: FieldRole.allCases.count)
    /// A `Connection` token names a field that would otherwise be forwarded.
    public internal(set) var connectionNamesOtherFields = false
    /// The lower-case name of the field whose role is `.consumed`, if any.
    let consumedField: StaticString?

    init(consumedField: StaticString? = nil) {
        self.consumedField = consumedField
    }

    func reset() {
        // `bytes` is replaced when the next head is complete.
        fieldCount = 0
        methodRange = 0..<0
        targetRange = 0..<0
        reasonRange = 0..<0
        statusCode = 0
        method = .other
        isChunked = false
        contentLength = nil
        isUpgrade = false
        keepAlive = true
        for role in 0..<firstIndexByRole.count { firstIndexByRole[role] = -1 }
        connectionNamesOtherFields = false
    }

    /// Records a completed field: its role, and where each role first
    /// appears. False if its name is not a token (RFC 9112 5.1: white space
    /// before the colon, an empty name): such a request must be refused.
    /// `bytes` are the head's bytes so far (the parser's, not yet `self.bytes`).
    func addField(_ field: Field, in bytes: UnsafeRawBufferPointer) -> Bool {
        var field = field
        let name = UnsafeBufferPointer(rebasing: bytes.assumingMemoryBound(to: UInt8.self)[Int(field.nameStart)..<Int(field.nameEnd)])
        guard FieldRole.isValidName(name) else { return false }
        field.role = FieldRole.of(name, consumed: consumedField)
        if firstIndexByRole[Int(field.role.rawValue)] < 0 { firstIndexByRole[Int(field.role.rawValue)] = Int32(fieldCount) }
        if fieldCount < fields.count { fields[fieldCount] = field } else { fields.append(field) }
        fieldCount += 1
        return true
    }

    /// Sets `connectionNamesOtherFields` once the head's bytes are in `bytes`.
    func noteConnectionTokens() {
        guard firstIndexByRole[Int(FieldRole.connection.rawValue)] >= 0 else { return }
        for index in 0..<fieldCount where fields[index].role == .connection {
            // Comma-separated tokens, walked in place (no array of slices).
            let value = self.value(at: index)
            var tokenStart = value.startIndex
            for position in value.startIndex...value.endIndex where position == value.endIndex || value[position] == UInt8(ascii: ",") {
                if FieldRole.isOrdinaryToken(HeaderName.trimmed(value[tokenStart..<position])) {
                    connectionNamesOtherFields = true
                    return
                }
                tokenStart = position + 1
            }
        }
    }

    /// Every `Transfer-Encoding` value is exactly `chunked` (one coding the
    /// proxy can re-frame; any other would be lost when it re-chunks).
    var transferCodingIsOnlyChunked: Bool {
        var codings = 0
        for index in 0..<fieldCount where fields[index].role == .transferEncoding {
            for token in value(at: index).split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                codings += 1
                if !HeaderName.equals(HeaderName.trimmed(token), "chunked") { return false }
            }
        }
        return codings <= 1
    }

    public func role(at index: Int) -> FieldRole { fields[index].role }

    /// The value of the first field with `role`, if any (no name comparison).
    public func firstValue(of role: FieldRole) -> ArraySlice<UInt8>? {
        let index = firstIndexByRole[Int(role.rawValue)]
        return index < 0 ? nil : value(at: Int(index))
    }

    public func contains(_ role: FieldRole) -> Bool { firstIndexByRole[Int(role.rawValue)] >= 0 }

    public var methodBytes: ArraySlice<UInt8> { bytes[methodRange] }
    public var target: ArraySlice<UInt8> { bytes[targetRange] }
    public var reasonPhrase: ArraySlice<UInt8> { bytes[reasonRange] }
    public var isHTTP10: Bool { versionMajor == 1 && versionMinor == 0 }

    public func name(at index: Int) -> ArraySlice<UInt8> {
        let field = fields[index]
        return bytes[Int(field.nameStart)..<Int(field.nameEnd)]
    }

    public func value(at index: Int) -> ArraySlice<UInt8> {
        let field = fields[index]
        return bytes[Int(field.valueStart)..<Int(trimmedValueEnd(field))]
    }

    private func trimmedValueEnd(_ field: Field) -> Int32 {
        var end = field.valueEnd
        while end > field.valueStart, bytes[Int(end) - 1] == 0x20 || bytes[Int(end) - 1] == 0x09 { end -= 1 }
        return end
    }

    /// The first value of the field `name` (lower-case ASCII), if present.
    public func firstValue(of name: StaticString) -> ArraySlice<UInt8>? {
        for index in 0..<fieldCount where HeaderName.equals(self.name(at: index), name) {
            return value(at: index)
        }
        return nil
    }

    public func contains(_ name: StaticString) -> Bool { firstValue(of: name) != nil }

    /// The path part of the target, without the query.
    public var path: ArraySlice<UInt8> {
        let target = self.target
        if let question = target.firstIndex(of: UInt8(ascii: "?")) { return target[..<question] }
        return target
    }
}

/// The methods the proxy treats specially; others travel as their bytes.
public enum HTTPMethod: UInt8, Sendable {
    case delete = 0, get = 1, head = 2, post = 3, put = 4, connect = 5, options = 6, trace = 7, patch = 28
    case other = 255

    /// RFC 9110 9.2.2: safe to send again if the first attempt may have failed.
    public var isIdempotent: Bool {
        switch self {
        case .get, .head, .put, .delete, .options, .trace: true
        default: false
        }
    }
}

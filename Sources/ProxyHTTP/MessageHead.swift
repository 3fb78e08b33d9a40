/// The head of one HTTP message as it arrived: request line or status line
/// and header fields, kept as byte ranges into one reused byte array. Nothing
/// is turned into a String on the data path.
public struct MessageHead {
    struct Field {
        var nameStart: Int32, nameEnd: Int32, valueStart: Int32, valueEnd: Int32
    }

    /// Method, target, reason phrase, field names and values, back to back.
    public internal(set) var bytes: [UInt8] = []
    var fields: [Field] = []
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

    init() {
        bytes.reserveCapacity(1024)
        fields.reserveCapacity(24)
    }

    mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        fields.removeAll(keepingCapacity: true)
        methodRange = 0..<0
        targetRange = 0..<0
        reasonRange = 0..<0
        statusCode = 0
        method = .other
        isChunked = false
        contentLength = nil
        isUpgrade = false
        keepAlive = true
    }

    public var fieldCount: Int { fields.count }
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
        for index in fields.indices where HeaderName.equals(self.name(at: index), name) {
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

import ProxyHTTP

/// A broken invariant: says which, with the input's options and the way it
/// was split, then traps so that libFuzzer (or the replay test) reports it.
func violated(_ what: @autoclosure () -> String, _ context: @autoclosure () -> String = "",
              file: StaticString = #fileID, line: UInt = #line) -> Never {
    let message = "fuzz invariant violated: \(what())\(context().isEmpty ? "" : "\n  context: \(context())")"
    fatalError(message, file: file, line: line)
}

@inline(__always)
func check(_ condition: Bool, _ what: @autoclosure () -> String, _ context: @autoclosure () -> String = "",
           file: StaticString = #fileID, line: UInt = #line) {
    if !condition { violated(what(), context(), file: file, line: line) }
}

/// How one input is cut into the reads a connection would see.
enum Split: CustomStringConvertible {
    /// One read with everything.
    case whole
    /// Reads of `size` bytes (the last one shorter).
    case fixed(Int)
    /// Reads of 1 to 64 bytes, sizes from a generator seeded with `seed`.
    case random(UInt64)

    /// The fixed sizes the options byte picks from.
    static let sizes = [1, 2, 3, 5, 8, 13, 64, 512]

    func chunks(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        var start = 0
        var random = SplitMix(seed: 0)
        if case .random(let seed) = self { random = SplitMix(seed: seed) }
        while start < bytes.count {
            let size: Int
            switch self {
            case .whole: size = bytes.count
            case .fixed(let fixed): size = fixed
            case .random: size = 1 + Int(random.next() % 64)
            }
            let end = min(bytes.count, start + size)
            result.append(bytes[start..<end])
            start = end
        }
        return result
    }

    var description: String {
        switch self {
        case .whole: "whole"
        case .fixed(let size): "fixed(\(size))"
        case .random(let seed): "random(seed \(seed))"
        }
    }

    /// The splits every input is parsed with: whole, a fixed size the options
    /// byte picks, and random sizes seeded from the input.
    static func all(options: UInt8, stream: [UInt8]) -> [Split] {
        var seed: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in stream.prefix(64) { seed = (seed ^ UInt64(byte)) &* 0x100_0000_01B3 }
        var splits: [Split] = [.whole, .fixed(sizes[Int(options & 7)]), .random(seed ^ UInt64(stream.count))]
        // Byte by byte too for small inputs (and sizes 1 is already picked otherwise).
        if stream.count <= 256, options & 7 != 0 { splits.append(.fixed(1)) }
        return splits
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

/// A head copied out of the parser into plain values.
struct HeadSummary: Equatable, CustomStringConvertible {
    var method: [UInt8]
    var methodKind: HTTPMethod
    var target: [UInt8]
    var path: [UInt8]
    var status: Int
    var reason: [UInt8]
    /// Each field as name, 0, value.
    var fields: [[UInt8]]
    var isChunked: Bool
    var contentLength: UInt64?
    var isUpgrade: Bool
    var keepAlive: Bool
    var version: String

    /// Reads every accessor of `head` (any index out of range traps) and checks
    /// that what llhttp's strict mode let through is what may be written back.
    init(_ head: MessageHead, kind: HTTPParser.Kind) {
        method = Array(head.methodBytes)
        methodKind = head.method
        target = Array(head.target)
        path = Array(head.path)
        status = head.statusCode
        reason = Array(head.reasonPhrase)
        fields = (0..<head.fieldCount).map { index in
            Array(head.name(at: index)) + [0] + Array(head.value(at: index))
        }
        isChunked = head.isChunked
        contentLength = head.contentLength
        isUpgrade = head.isUpgrade
        keepAlive = head.keepAlive
        version = "\(head.versionMajor).\(head.versionMinor)"
        _ = head.isHTTP10

        let context = "head \(self)"
        check(target.starts(with: path), "path is not a prefix of the target", context)
        if kind == .request {
            check(!method.isEmpty && method.allSatisfy(Self.isTokenByte), "method is not a token", context)
            check(!target.isEmpty && !target.contains(where: { $0 <= 0x20 || $0 == 0x7F }), "target has a space or control byte", context)
            check(status == 0, "a request has a status", context)
        } else {
            check(method.isEmpty, "a response has a method", context)
            check((100...599).contains(status), "status \(status) outside 100-599", context)
            check(!reason.contains(where: { $0 == 0x0D || $0 == 0x0A }), "reason has CR or LF", context)
            check(!reason.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }), "reason has a control byte", context)
        }
        for index in 0..<head.fieldCount {
            let name = head.name(at: index)
            let value = head.value(at: index)
            check(!name.isEmpty && name.allSatisfy(Self.isTokenByte), "field name \(index) is not a token", context)
            check(!value.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }), "field value \(index) has CR, LF or NUL", context)
            check(value.last != 0x20 && value.last != 0x09, "field value \(index) ends in white space", context)
        }
    }

    /// RFC 9110 5.6.2 tchar.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
        default: false
        }
    }

    var description: String {
        let fieldText = fields.map { String(decoding: $0.map { $0 == 0 ? UInt8(ascii: "=") : $0 }, as: UTF8.self) }
        return "\(text(method)) \(text(target)) \(status) \(text(reason)) v\(version) \(fieldText) chunked=\(isChunked) "
            + "cl=\(contentLength.map(String.init) ?? "nil") upgrade=\(isUpgrade) keepAlive=\(keepAlive)"
    }
}

/// What a parser run produced, in order; body runs are merged, so the way
/// the input was split does not show.
enum Event: Equatable, CustomStringConvertible {
    case head(HeadSummary)
    case body([UInt8])
    case complete
    case upgraded(tail: [UInt8])
    /// Which error is not compared: where a limit and a syntax error meet, the
    /// way the input is cut decides which is seen first (a target too long for
    /// the limit with an invalid byte in it is 414 in small reads, 400 whole).
    case failed
    case finished(String)

    var description: String {
        switch self {
        case .head(let head): "head(\(head))"
        case .body(let bytes): "body(\(bytes.count): \(text(bytes.prefix(40))))"
        case .complete: "complete"
        case .upgraded(let tail): "upgraded(tail \(tail.count))"
        case .failed: "failed"
        case .finished(let outcome): "finished(\(outcome))"
        }
    }
}

struct EventLog: Equatable {
    var events: [Event] = []

    mutating func append(_ event: Event) {
        if KnownIssue.trace { traceLine("  event: \(event)") }
        if case .body(let more) = event, case .body(let earlier)? = events.last {
            events[events.count - 1] = .body(earlier + more)
        } else {
            events.append(event)
        }
    }

    /// Where two logs part, for the report.
    func difference(from other: EventLog) -> String {
        let common = zip(events, other.events).prefix { $0 == $1 }.count
        let mine = events.count > common ? events[common].description : "(end)"
        let theirs = other.events.count > common ? other.events[common].description : "(end)"
        return "event \(common): \(mine)\n  versus: \(theirs)"
    }
}

func text<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
    var out = ""
    for byte in bytes {
        switch byte {
        case 0x20..<0x7F where byte != UInt8(ascii: "\\"): out.unicodeScalars.append(Unicode.Scalar(byte))
        case 0x0D: out += "\\r"
        case 0x0A: out += "\\n"
        default: out += "\\x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
        }
    }
    return out
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

extension HTTPParser {
    func execute(_ bytes: ArraySlice<UInt8>) -> ParseOutcome {
        bytes.withUnsafeBytes { execute($0.bytes) }
    }
}

extension ParseOutcome {
    var name: String {
        switch self {
        case .consumedAll: "consumedAll"
        case .paused(let consumed): "paused(\(consumed))"
        case .upgraded(let consumed): "upgraded(\(consumed))"
        case .failed(let error): "failed(\(error.kind): \(error.reason))"
        }
    }
}

/// Limits small enough for inputs of at most a few KiB to reach, or the defaults.
func fuzzLimits(_ selector: UInt8, requiresHost: Bool = false) -> HeadLimits {
    var limits = switch selector % 4 {
    case 0: HeadLimits()
    case 1: HeadLimits(maxTargetBytes: 16, maxHeaderBytes: 64, maxHeaderCount: 4)
    case 2: HeadLimits(maxTargetBytes: 64, maxHeaderBytes: 256, maxHeaderCount: 12)
    default: HeadLimits(maxTargetBytes: 200, maxHeaderBytes: 1024, maxHeaderCount: 40)
    }
    limits.requiresHost = requiresHost
    return limits
}

extension HeadSummary {
    /// The fields named `name` (lower-case ASCII), their values.
    func values(of name: String) -> [[UInt8]] {
        fields.compactMap { field in
            let separator = field.firstIndex(of: 0)!
            return String(decoding: field[..<separator], as: UTF8.self).lowercased() == name ? Array(field[(separator + 1)...]) : nil
        }
    }
}

/// Limits that never bind: how the peer behind the proxy parses what it wrote.
let peerLimits = HeadLimits(maxTargetBytes: 1 << 24, maxHeaderBytes: 1 << 24, maxHeaderCount: 1 << 20)

/// Appends `body` to `out` as the proxy sends it with `framing`.
func appendBody(_ body: RawSpan, framing: BodyFraming, to out: inout [UInt8]) {
    guard body.byteCount > 0 else { return }
    if framing == .chunked {
        var header: [UInt8] = []
        ChunkedEncoding.chunkHeader(size: body.byteCount, into: &header)
        out.append(contentsOf: header)
        out.append(bytesOf: body)
        out.append(contentsOf: ChunkedEncoding.chunkEnd)
    } else {
        out.append(bytesOf: body)
    }
}

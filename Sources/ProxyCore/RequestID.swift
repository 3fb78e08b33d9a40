import ProxyHTTP

/// Request ids: the client's `X-Request-Id` if it sent a usable one, otherwise
/// 32 random hex digits from a SplitMix64 generator seeded once at start
/// (fast, and unique enough to find a request in logs; not a secret).
struct RequestIDGenerator {
    private var state: UInt64

    init(seed: UInt64 = UInt64.random(in: .min ... .max)) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }

    /// Replaces `out` with a new id: 32 lower-case hex digits.
    mutating func generate(into out: inout [UInt8]) {
        let high = next(), low = next()
        out.setHexDigits(high: high, low: low)
    }

    /// A client-sent id is kept if it is 1 to 200 visible ASCII characters.
    static func isUsable(_ value: ArraySlice<UInt8>) -> Bool {
        !value.isEmpty && value.count <= 200 && value.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }
}

/// The id of the exchange in progress and the `X-Request-Id` field that
/// carries it: the client's own id if it sent a usable one, else one made
/// here. Buffers are reused from exchange to exchange.
struct RequestIDField {
    private(set) var id: [UInt8] = []
    /// `X-Request-Id: <id>\r\n`: added to every response the client gets,
    /// and to the upstream's request when the id was made here.
    private(set) var field: [UInt8] = []
    /// The id was made here (the upstream's head carries `field`).
    private(set) var madeHere = false

    /// A request the proxy answers itself has no id.
    mutating func clear() { id.removeAll(keepingCapacity: true) }

    /// Takes the client's id (`sent`) if usable, else makes one. Returns
    /// whether it was made here: then the upstream's head needs `field` (the
    /// client's own field is forwarded as it is).
    mutating func begin(sent: ArraySlice<UInt8>?, generator: inout RequestIDGenerator) -> Bool {
        let madeHere: Bool
        if let sent, RequestIDGenerator.isUsable(sent) {
            id.removeAll(keepingCapacity: true)
            id.append(contentsOf: sent)
            madeHere = false
        } else {
            generator.generate(into: &id)
            madeHere = true
        }
        field.removeAll(keepingCapacity: true)
        field.append(contentsOf: Self.name)
        field.append(contentsOf: id)
        field.append(contentsOf: Self.lineEnd)
        self.madeHere = madeHere
        return madeHere
    }

    private static let name: [UInt8] = Array("X-Request-Id: ".utf8)
    private static let lineEnd: [UInt8] = [0x0D, 0x0A]
}

/// The per-request deadline header: a request may shorten its own timeout,
/// never lengthen it (the shorter of this and `FUNC_TIMEOUT` applies). The
/// proxy consumes it; it does not go upstream.
enum RequestTimeoutHeader {
    /// The client's request parser is made with this as its consumed field,
    /// so the field has the role `.consumed` and is not forwarded.
    static let name: StaticString = "x-request-timeout"

    /// Milliseconds asked for, or nil if absent or not a positive number of
    /// seconds. `head` comes from a parser told of `name`.
    static func milliseconds(in head: MessageHead) -> UInt64? {
        guard let value = head.firstValue(of: .consumed) else { return nil }
        return ConfigParsing.milliseconds(String(decoding: value, as: UTF8.self))
    }
}

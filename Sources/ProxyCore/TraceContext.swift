import ProxyHTTP

/// W3C Trace Context for the exchange in progress. A `traceparent` from the
/// client passes through unchanged and its trace id is logged; without one
/// the proxy makes one (`00-<trace id>-<span id>-01`, sampled) and sends it
/// upstream, so the runtime, the access log and the client join on one trace
/// id. The trace id is the request id when the proxy made that too (both are
/// 32 random hex digits): the client has it as `X-Request-Id`. Otherwise
/// (the client named its own request id) the response carries the made
/// traceparent back as `traceresponse`.
///
/// The field is a fixed-layout template made once; a new trace only
/// overwrites its digits in place.
struct TraceContext {
    /// The proxy made this exchange's traceparent.
    private(set) var madeHere = false
    /// The client gets `responseField` (the trace id is not its request id).
    private(set) var returnsTrace = false
    /// `traceparent: 00-<32>-<16>-01\r\n`, for the upstream's head.
    private(set) var upstreamField = Self.template("traceparent: ")
    /// `traceresponse: 00-<32>-<16>-01\r\n`, when `returnsTrace`.
    private(set) var responseField = Self.template("traceresponse: ")
    /// The client's trace id, when it sent a valid traceparent.
    private var clientTraceID: [UInt8] = []
    private var hasClientTraceID = false

    private static let traceOffset = "traceparent: 00-".utf8.count
    private static let spanOffset = traceOffset + 33
    private static let valueOffset = "traceparent: ".utf8.count
    private static let responseName: [UInt8] = Array("traceresponse: ".utf8)

    private static func template(_ name: String) -> [UInt8] {
        Array(name.utf8) + Array("00-".utf8) + [UInt8](repeating: 0x30, count: 32) + [0x2D] + [UInt8](repeating: 0x30, count: 16)
            + Array("-01\r\n".utf8)
    }

    /// The trace id to log, or empty.
    var traceID: ArraySlice<UInt8> {
        if madeHere { return upstreamField[Self.traceOffset..<Self.traceOffset + 32] }
        return hasClientTraceID ? clientTraceID[...] : []
    }

    /// A request the proxy answers itself has no trace.
    mutating func clear() {
        madeHere = false
        returnsTrace = false
        hasClientTraceID = false
    }

    /// Takes the client's `traceparent` (`sent`), or makes one when
    /// `generate`, its trace id `requestID` (an id the proxy just made, 32
    /// hex digits) or, without one, new.
    mutating func begin(sent: ArraySlice<UInt8>?, generate: Bool, requestID: [UInt8]?, generator: inout RequestIDGenerator) {
        madeHere = false
        returnsTrace = false
        hasClientTraceID = false
        if let sent {
            if let id = Self.traceID(in: sent) {
                clientTraceID.removeAll(keepingCapacity: true)
                clientTraceID.append(contentsOf: id)
                hasClientTraceID = true
            }
            return
        }
        guard generate else { return }
        madeHere = true
        if let requestID, requestID.count == 32 {
            upstreamField.writeHexDigits(of: generator.next(), at: Self.spanOffset, copying: requestID, at: Self.traceOffset)
            return
        }
        // The client named its own request id: a new trace id, returned to it.
        var traceID: [UInt8] = []
        generator.generate(into: &traceID)
        upstreamField.writeHexDigits(of: generator.next(), at: Self.spanOffset, copying: traceID, at: Self.traceOffset)
        // (A rare path: copies are fine here.)
        responseField = Self.responseName + upstreamField[Self.valueOffset...]
        returnsTrace = true
    }

    /// The trace id of a valid `traceparent` value (version 00 layout:
    /// `vv-<32 hex>-<16 hex>-ff`, ids not all zero), or nil.
    static func traceID(in value: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        guard value.count >= 55 else { return nil }
        let start = value.startIndex
        let version = value[start..<start + 2]
        guard version.allSatisfy(isLowerHex), version != [0x66, 0x66][...] else { return nil }  // "ff" is invalid
        if version == [0x30, 0x30][...] && value.count != 55 { return nil }
        guard value[start + 2] == 0x2D, value[start + 35] == 0x2D, value[start + 52] == 0x2D else { return nil }
        let trace = value[start + 3..<start + 35], span = value[start + 36..<start + 52], flags = value[start + 53..<start + 55]
        guard trace.allSatisfy(isLowerHex), span.allSatisfy(isLowerHex), flags.allSatisfy(isLowerHex),
              trace.contains(where: { $0 != 0x30 }), span.contains(where: { $0 != 0x30 }) else { return nil }
        return trace
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) }
}

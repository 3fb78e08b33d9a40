import ProxyHTTP

/// W3C Trace Context for the exchange in progress. A `traceparent` from the
/// client passes through unchanged and its trace id is logged; without one
/// the proxy makes one (`00-<trace id>-<span id>-01`, random, sampled), sends
/// it upstream and returns it to the client as `traceresponse`, so the
/// runtime, the access log and the client join on one trace id. Buffers are
/// reused from exchange to exchange.
struct TraceContext {
    /// The 32 hex digits of the trace id; empty when there is none to log.
    private(set) var traceID: [UInt8] = []
    /// `traceparent: ...\r\n` for the upstream's head, when made here.
    private(set) var upstreamField: [UInt8] = []
    /// `traceresponse: ...\r\n` for the client's response, when made here.
    private(set) var responseField: [UInt8] = []
    private(set) var madeHere = false
    private var spanID: [UInt8] = []

    /// A request the proxy answers itself has no trace.
    mutating func clear() {
        traceID.removeAll(keepingCapacity: true)
        madeHere = false
    }

    /// Takes the client's `traceparent` (`sent`), or makes one when `generate`.
    mutating func begin(sent: ArraySlice<UInt8>?, generate: Bool, generator: inout RequestIDGenerator) {
        madeHere = false
        if let sent {
            traceID.removeAll(keepingCapacity: true)
            if let id = Self.traceID(in: sent) { traceID.append(contentsOf: id) }
            return
        }
        guard generate else {
            traceID.removeAll(keepingCapacity: true)
            return
        }
        generator.generate(into: &traceID)
        generator.generate(into: &spanID)
        madeHere = true
        Self.write(Self.traceparentName, traceID, spanID[..<16], into: &upstreamField)
        Self.write(Self.traceresponseName, traceID, spanID[..<16], into: &responseField)
    }

    private static func write(_ name: [UInt8], _ trace: [UInt8], _ span: ArraySlice<UInt8>, into field: inout [UInt8]) {
        field.removeAll(keepingCapacity: true)
        field.append(contentsOf: name)
        field.append(contentsOf: version)
        field.append(contentsOf: trace)
        field.append(0x2D)
        field.append(contentsOf: span)
        field.append(contentsOf: sampledEnd)
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

    private static let traceparentName: [UInt8] = Array("traceparent: ".utf8)
    private static let traceresponseName: [UInt8] = Array("traceresponse: ".utf8)
    private static let version: [UInt8] = Array("00-".utf8)
    private static let sampledEnd: [UInt8] = Array("-01\r\n".utf8)
}

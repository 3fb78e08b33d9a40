import Testing

@testable import ProxyCore

@Suite struct TraceContextTests {
    static let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    // A valid traceparent's trace id is read; malformed ones (length, case, separators, all-zero ids, version ff) are not.
    @Test func traceIDOfAValidValue() {
        #expect(TraceContext.traceID(in: Array(Self.valid.utf8)[...]).map { String(decoding: $0, as: UTF8.self) }
            == "4bf92f3577b34da6a3ce929d0e0e4736")
        for bad in ["", Self.valid.uppercased(), String(Self.valid.dropLast()), Self.valid + "-x",
                    "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"] {
            #expect(TraceContext.traceID(in: Array(bad.utf8)[...]) == nil, "\(bad)")
        }
        // A later version may append fields.
        #expect(TraceContext.traceID(in: Array(("01" + Self.valid.dropFirst(2) + "-later").utf8)[...]) != nil)
    }

    // Without a traceparent one is made (sent upstream, returned as traceresponse, same ids); with one nothing is made; off makes none.
    @Test func madeOnlyWhenAbsentAndOn() {
        var generator = RequestIDGenerator(seed: 7)
        var trace = TraceContext()
        trace.begin(sent: nil, generate: true, requestID: nil, generator: &generator)
        #expect(trace.madeHere && trace.traceID.count == 32 && trace.returnsTrace)
        let upstream = String(decoding: trace.upstreamField, as: UTF8.self)
        let response = String(decoding: trace.responseField, as: UTF8.self)
        #expect(upstream.hasPrefix("traceparent: 00-") && upstream.hasSuffix("-01\r\n"))
        let value = upstream.dropFirst("traceparent: ".count).dropLast()  // "\r\n" is one Character
        #expect(TraceContext.traceID(in: Array(value.utf8)[...]).map(Array.init) == Array(trace.traceID))
        #expect(response == "traceresponse: " + value + "\r\n")
        trace.begin(sent: Array(Self.valid.utf8)[...], generate: true, requestID: nil, generator: &generator)
        #expect(!trace.madeHere && String(decoding: trace.traceID, as: UTF8.self) == "4bf92f3577b34da6a3ce929d0e0e4736")
        trace.begin(sent: nil, generate: false, requestID: nil, generator: &generator)
        #expect(!trace.madeHere && trace.traceID.isEmpty)
        // With a request id made here, the trace id is that id.
        let id = Array("0123456789abcdef0123456789abcdef".utf8)
        trace.begin(sent: nil, generate: true, requestID: id, generator: &generator)
        #expect(Array(trace.traceID) == id)
        #expect(!trace.returnsTrace)  // the client has it as its X-Request-Id
        #expect(String(decoding: trace.upstreamField, as: UTF8.self).hasPrefix("traceparent: 00-0123456789abcdef0123456789abcdef-"))
    }
}

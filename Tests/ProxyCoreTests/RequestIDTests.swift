import Testing

@testable import ProxyCore

@Suite struct RequestIDTests {
    // A generated id is 32 lower-case hex digits, and the next one differs.
    @Test func generatedIdsAreHexAndDistinct() {
        var generator = RequestIDGenerator(seed: 42)
        var first: [UInt8] = []
        generator.generate(into: &first)
        #expect(first.count == 32)
        #expect(first.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        var second = first
        generator.generate(into: &second)
        #expect(second.count == 32 && second != first)
    }

    // The digits are those of the two 64-bit words, most significant first.
    @Test func digitsSpellTheWords() {
        var out: [UInt8] = [1, 2, 3]
        out.setHexDigits(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210)
        #expect(String(decoding: out, as: UTF8.self) == "0123456789abcdeffedcba9876543210")
    }

    // A client's id is kept when it is 1 to 200 visible ASCII characters.
    @Test func clientIdsAreCheckedForUse() {
        #expect(RequestIDGenerator.isUsable(Array("abc-123".utf8)[...]))
        #expect(!RequestIDGenerator.isUsable([][...]))
        #expect(!RequestIDGenerator.isUsable(Array("a b".utf8)[...]))
        #expect(!RequestIDGenerator.isUsable(Array(repeating: 0x61, count: 201)[...]))
    }

    // A client's usable id is kept and not added upstream again; otherwise one is made, and the field carries it.
    @Test func fieldTakesTheClientsIdOrMakesOne() {
        var generator = RequestIDGenerator(seed: 1)
        var requestID = RequestIDField()
        #expect(requestID.begin(sent: Array("abc".utf8)[...], generator: &generator) == false)
        #expect(requestID.id == Array("abc".utf8))
        #expect(requestID.field == Array("X-Request-Id: abc\r\n".utf8))
        #expect(requestID.begin(sent: Array("a b".utf8)[...], generator: &generator) == true)
        #expect(requestID.id.count == 32)
        #expect(requestID.field == Array("X-Request-Id: ".utf8) + requestID.id + [0x0D, 0x0A])
        #expect(requestID.begin(sent: nil, generator: &generator) == true)
        requestID.clear()
        #expect(requestID.id.isEmpty)
    }
}

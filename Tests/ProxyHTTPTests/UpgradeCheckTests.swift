import Testing
@testable import ProxyHTTP

/// Which upgrades pass: never h2c, and a 101 only for what the request asked.
@Suite struct UpgradeCheckTests {
    private func hex(_ bytes: [UInt8]) -> String { bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }

    // SHA-1 gives the FIPS 180 test vectors (empty, "abc", two blocks, a million "a").
    @Test func sha1Vectors() {
        #expect(hex(SHA1.digest([])) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(hex(SHA1.digest(bytes("abc"))) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(hex(SHA1.digest(bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")))
            == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(hex(SHA1.digest([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    // Base64 pads to whole groups of four (RFC 4648 section 10 vectors).
    @Test(arguments: [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
                      ("foobar", "Zm9vYmFy")])
    func base64Vectors(input: String, expected: String) {
        #expect(String(decoding: Base64.encode(bytes(input)), as: UTF8.self) == expected)
    }

    // RFC 6455 section 1.3's example key gives its example accept value.
    @Test func webSocketAcceptOfTheRFCExample() {
        #expect(String(decoding: UpgradeCheck.expectedAccept(forKey: bytes("dGhlIHNhbXBsZSBub25jZQ==")), as: UTF8.self)
            == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    private let webSocketRequest = "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

    private func refusal(_ request: String, _ response: String) -> String? {
        UpgradeCheck.refusal(request: parseHead(request), response: parseHead(response, kind: .response))
    }

    // A WebSocket 101 with the matching accept (protocol name in any case) opens the tunnel.
    @Test func webSocketWithMatchingAcceptPasses() {
        #expect(refusal(webSocketRequest, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n") == nil)
    }

    // A WebSocket 101 with a wrong accept, none, or for a request without a key is refused.
    @Test func webSocketWithoutMatchingAcceptIsRefused() {
        let wrong = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n"
        #expect(refusal(webSocketRequest, wrong) == "WebSocket 101 with the wrong Sec-WebSocket-Accept")
        let missing = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        #expect(refusal(webSocketRequest, missing) == "WebSocket 101 without Sec-WebSocket-Accept")
        let keyless = "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        #expect(refusal(keyless, missing) == "WebSocket 101 for a request without Sec-WebSocket-Key")
    }

    // A 101 to a protocol the request did not offer, or to h2c even when offered, is refused; one it offered passes.
    @Test func otherProtocols() {
        let request = "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c, foo/2\r\n\r\n"
        let toFoo = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: FOO/2\r\nConnection: Upgrade\r\n\r\n"
        #expect(refusal(request, toFoo) == nil)
        let toBar = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: bar\r\nConnection: Upgrade\r\n\r\n"
        #expect(refusal(request, toBar) == "101 switches to a protocol the request did not ask for")
        let toH2C = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
        #expect(refusal(request, toH2C) == "101 switches to a protocol the request did not ask for")
    }

    // Upgrade: h2c alone (any case, any list of h2c) is no upgrade: the parser reads on as for any request, and the next one follows.
    @Test(arguments: ["h2c", "H2C", "h2c, h2c", " h2c ,"])
    func h2cAloneIsAnOrdinaryRequest(upgrade: String) {
        let input = bytes("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: \(upgrade)\r\n"
            + "HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n")
        let run = parseSplitAtEveryBoundary(input: input, kind: .request)
        #expect(run.upgradeTail == nil)
        #expect(run.messages.map(\.head.isUpgrade) == [false, false])
        #expect(run.messages.map(\.head.target) == ["/", "/next"])
    }

    // An upgrade that offers h2c among others stays an upgrade, to the others only.
    @Test func h2cAmongOthersKeepsTheOthers() {
        let input = bytes("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c, websocket\r\n\r\n")
        let run = parseSplitAtEveryBoundary(input: input, kind: .request)
        #expect(run.messages.map(\.head.isUpgrade) == [true])
        #expect(run.upgradeTail == [])
    }
}

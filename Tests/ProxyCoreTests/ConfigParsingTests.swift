import Testing

@testable import ProxyCore

@Suite struct ConfigParsingTests {
    // Whole and fractional seconds become milliseconds.
    // Sizes: bytes, or k, m, g (KiB, MiB, GiB) in any case, with an optional b or ib; anything else is not a size.
    @Test func byteSizes() {
        #expect(ConfigParsing.byteSize("65536") == 65536)
        #expect(ConfigParsing.byteSize("64k") == 65536)
        #expect(ConfigParsing.byteSize("1M") == 1 << 20)
        #expect(ConfigParsing.byteSize("2MiB") == 2 << 20)
        #expect(ConfigParsing.byteSize("1gb") == 1 << 30)
        #expect(ConfigParsing.byteSize("0") == 0)
        for bad in ["", "k", "-1", "1.5m", "1t", "m1", " 1", "99999999999999999999g"] { #expect(ConfigParsing.byteSize(bad) == nil, "\(bad)") }
        #expect(ConfigParsing.byteSizeText(32 << 20) == "32m")
        #expect(ConfigParsing.byteSizeText(1000) == "1000")
    }

    @Test func millisecondsFromSeconds() {
        #expect(ConfigParsing.milliseconds("180") == 180_000)
        #expect(ConfigParsing.milliseconds("0.5") == 500)
        #expect(ConfigParsing.milliseconds("1.25") == 1_250)
    }

    // A positive duration below a millisecond rounds up to one, never to zero.
    @Test func tinyDurationIsAtLeastOneMillisecond() {
        #expect(ConfigParsing.milliseconds("0.0001") == 1)
    }

    // A default duration is shown in seconds as an option takes it, and reads back to the same milliseconds.
    @Test(arguments: [(UInt64(180_000), "180"), (10, "0.01"), (500, "0.5"), (1_250, "1.25"), (1, "0.001"), (2_000, "2")])
    func secondsTextRoundTrips(milliseconds: UInt64, text: String) {
        #expect(ConfigParsing.secondsText(milliseconds: milliseconds) == text)
        #expect(ConfigParsing.milliseconds(text) == milliseconds)
    }

    // The default buckets are shown as --help has always shown them, and parse back to themselves.
    @Test func bucketsTextRoundTrips() {
        let text = ConfigParsing.bucketsText(ProxyConfig.Defaults.durationBuckets)
        #expect(text == ".005,.01,.025,.05,.1,.25,.5,1,2.5,5,10")
        #expect(ConfigParsing.buckets(text) == ProxyConfig.Defaults.durationBuckets)
    }

    // Zero, negative, non-numeric, non-finite and empty durations are rejected.
    @Test(arguments: ["0", "-1", "abc", "nan", "inf", "", "-0.5", "1e9", "0x10", "1e3", " 5"])
    func millisecondsRejects(text: String) {
        #expect(ConfigParsing.milliseconds(text) == nil)
    }

    // Numeric, localhost, bracketed IPv6 and unix-socket upstreams parse to the expected target.
    @Test(arguments: [
        ("127.0.0.1:8090", "127.0.0.1:8090"),
        ("localhost:8090", "127.0.0.1:8090"),
        ("[::1]:8090", "[::1]:8090"),
        ("unix:/tmp/x.sock", "unix:/tmp/x.sock"),
        ("/tmp/x.sock", "unix:/tmp/x.sock"),
        ("10.0.0.7:1", "10.0.0.7:1"),
        ("127.0.0.1:65535", "127.0.0.1:65535"),
    ])
    func upstreamAccepts(text: String, expected: String) {
        #expect(ConfigParsing.upstream(text)?.description == expected)
    }

    // A TCP upstream keeps its numeric host and port; a unix one keeps its path.
    @Test func upstreamTargetCases() {
        guard case .tcp(let address)? = ConfigParsing.upstream("[::1]:8090") else {
            Issue.record("expected a TCP target")
            return
        }
        #expect(address.host == "::1" && address.port == 8090 && address.isIPv6)
        guard case .unix(let path)? = ConfigParsing.upstream("/tmp/x.sock") else {
            Issue.record("expected a unix target")
            return
        }
        #expect(path == "/tmp/x.sock")
    }

    // Missing or out-of-range ports, host names, relative socket paths and malformed brackets are rejected.
    @Test(arguments: [
        "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1:", "127.0.0.1:http",
        "example.com:80", "unix:relative", "unix:", "[::1]8090", "[::1]", "[::1:8090", "", "::1:8090", "127.0.0.1:+80",
    ])
    func upstreamRejects(text: String) {
        #expect(ConfigParsing.upstream(text) == nil)
    }

    // A unix socket path must fit in sockaddr_un (under 108 bytes).
    @Test func upstreamRejectsOverlongUnixPath() {
        let fits = "/" + String(repeating: "a", count: 106)
        let tooLong = "/" + String(repeating: "a", count: 107)
        #expect(ConfigParsing.upstream(fits)?.description == "unix:\(fits)")
        #expect(ConfigParsing.upstream(tooLong) == nil)
    }

    // Without an address the proxy listens on all IPv4 interfaces.
    @Test func listenAddressDefaultsToAllInterfaces() {
        #expect(ConfigParsing.listenAddress(nil, port: 8080)?.description == "0.0.0.0:8080")
    }

    // Numeric IPv4 and IPv6 listen addresses parse, with or without brackets.
    @Test(arguments: [
        ("::", "[::]:8080"),
        ("[::1]", "[::1]:8080"),
        ("::1", "[::1]:8080"),
        ("127.0.0.1", "127.0.0.1:8080"),
    ])
    func listenAddressAccepts(text: String, expected: String) {
        #expect(ConfigParsing.listenAddress(text, port: 8080)?.description == expected)
    }

    // Host names, including localhost, are not accepted as listen addresses.
    @Test(arguments: ["localhost", "example.com", "", "[::1"])
    func listenAddressRejects(text: String) {
        #expect(ConfigParsing.listenAddress(text, port: 8080) == nil)
    }

    // An out-of-range listen port is rejected.
    @Test func listenAddressRejectsBadPort() {
        #expect(ConfigParsing.listenAddress(nil, port: 70_000) == nil)
        #expect(ConfigParsing.listenAddress("::", port: -1) == nil)
    }
}

import ProxyCore

/// `ConfigParsing`: the text of flags and environment variables (and of the
/// `X-Request-Timeout` header, which goes through `milliseconds`).
///
/// Input: byte 0 picks the parser, the rest is the text (decoded as UTF-8,
/// invalid sequences replaced, as `String(decoding:)` does).
///
/// Checked, besides no trap: `milliseconds` is at least 1 and agrees with
/// the number; `buckets` are ascending, positive and finite; an upstream
/// target is printable and reads back as itself; a listen address keeps its port.
public enum ConfigParsingHarness {
    public static func run(_ data: UnsafeRawBufferPointer) {
        guard let selector = data.first else { return }
        let text = String(decoding: data.dropFirst(), as: UTF8.self)
        let context = "selector \(selector), text \(text.debugDescription)"
        switch selector % 4 {
        case 0:
            if let milliseconds = ConfigParsing.milliseconds(text) {
                check(milliseconds >= 1, "milliseconds \(milliseconds) below 1", context)
                guard let seconds = Double(text) else { violated("accepted text that is not a number", context) }
                check(seconds > 0 && seconds < 1e9, "accepted \(seconds) seconds", context)
                check(milliseconds == max(1, UInt64((seconds * 1000).rounded())), "milliseconds \(milliseconds) for \(seconds) s", context)
            }
        case 1:
            if let bounds = ConfigParsing.buckets(text) {
                check(!bounds.isEmpty, "no bucket accepted", context)
                check(bounds.allSatisfy { $0.isFinite && $0 > 0 }, "bucket not positive and finite: \(bounds)", context)
                check(zip(bounds, bounds.dropFirst()).allSatisfy { $0 < $1 }, "buckets not ascending: \(bounds)", context)
            }
        case 2:
            if let target = ConfigParsing.upstream(text) {
                let description = target.description
                switch target {
                case .tcp(let address):
                    check((1...65535).contains(address.port), "port \(address.port) accepted", context)
                case .unix(let path):
                    check(path.hasPrefix("/") && path.utf8.count < 108, "unix path \(path.debugDescription) accepted", context)
                }
                guard let again = ConfigParsing.upstream(description) else {
                    violated("upstream \(description.debugDescription) does not read back", context)
                }
                check(again.description == description, "upstream reads back as \(again.description.debugDescription), not \(description.debugDescription)", context)
            }
        default:
            let port = Int(data.count % 65536)
            if let address = ConfigParsing.listenAddress(text, port: port) {
                check(address.port == port, "listen port \(address.port), asked \(port)", context)
                _ = address.description
                _ = address.isIPv6
            }
        }
    }
}

import ProxySystem

/// Turns configuration text into values; `nil` means the text is invalid.
public enum ConfigParsing {
    /// Seconds, possibly with a fraction, as milliseconds (at least 1).
    /// A size in bytes: digits, optionally followed by k, m or g (KiB, MiB,
    /// GiB; any case, an optional trailing "b" or "ib"). Nil if not a size.
    public static func byteSize(_ text: String) -> Int? {
        var lower = text.lowercased()
        for suffix in ["ib", "b"] where lower.hasSuffix(suffix) && lower.count > suffix.count {
            lower.removeLast(suffix.count)
            break
        }
        let multiplier: Int
        switch lower.last {
        case "k": multiplier = 1 << 10
        case "m": multiplier = 1 << 20
        case "g": multiplier = 1 << 30
        default: multiplier = 1
        }
        if multiplier > 1 { lower.removeLast() }
        guard !lower.isEmpty, lower.allSatisfy(\.isASCII), let value = Int(lower), value >= 0 else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : bytes
    }

    /// A size as `byteSize` takes it, in the largest unit that divides it (`32m`).
    public static func byteSizeText(_ bytes: Int) -> String {
        for (shift, unit) in [(30, "g"), (20, "m"), (10, "k")] where bytes > 0 && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(unit)"
        }
        return "\(bytes)"
    }

    public static func milliseconds(_ text: String) -> UInt64? {
        guard text.allSatisfy({ $0.isASCIIDigit || $0 == "." }), let seconds = Double(text), seconds.isFinite, seconds > 0, seconds < 1e9 else { return nil }
        return max(1, UInt64((seconds * 1000).rounded()))
    }

    /// `host:port`, `[v6]:port`, `unix:/path` or `/path`. The host must be
    /// numeric or `localhost`: names are not resolved on the data path.
    public static func upstream(_ text: String) -> UpstreamTarget? {
        if text.hasPrefix("unix:") { return unixPath(String(text.dropFirst(5))) }
        if text.hasPrefix("/") { return unixPath(text) }
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            // An IPv6 address must be bracketed: `::1:8090` is ambiguous.
            guard let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard portText.allSatisfy(\.isASCIIDigit), let port = Int(portText), (1...65535).contains(port) else { return nil }
        let numericHost = host == "localhost" ? "127.0.0.1" : String(host)
        return SocketAddress(host: numericHost, port: port).map { .tcp($0) }
    }

    private static func unixPath(_ path: String) -> UpstreamTarget? {
        path.hasPrefix("/") && path.utf8.count < 108 ? .unix(path: path) : nil
    }

    /// The inverse of `milliseconds(_:)`, as `--help` shows a default:
    /// 180000 is `180`, 10 is `0.01`.
    public static func secondsText(milliseconds: UInt64) -> String {
        let whole = milliseconds / 1000
        let fraction = milliseconds % 1000
        guard fraction > 0 else { return "\(whole)" }
        var digits = String(fraction + 1000).dropFirst()  // three digits, leading zeros kept
        while digits.last == "0" { digits.removeLast() }
        return "\(whole).\(digits)"
    }

    /// Histogram bounds as `--duration-buckets` takes them and `--help`
    /// shows them: `.005,.01,...,1,2.5`.
    public static func bucketsText(_ bounds: [Double]) -> String {
        bounds.map { bound in
            var text = Substring(String(bound))
            if text.hasSuffix(".0") { text = text.dropLast(2) }
            if text.hasPrefix("0.") { text = text.dropFirst() }
            return String(text)
        }.joined(separator: ",")
    }

    /// Histogram bounds: ascending positive seconds, comma-separated.
    public static func buckets(_ text: String) -> [Double]? {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        var bounds: [Double] = []
        for part in parts {
            let trimmed = part.trimmingCharacters(in: " ")
            guard trimmed.allSatisfy({ $0.isASCIIDigit || $0 == "." }), let value = Double(trimmed), value > 0, value.isFinite,
                  value > (bounds.last ?? 0) else { return nil }
            bounds.append(value)
        }
        return bounds.isEmpty ? nil : bounds
    }

    /// The listen address: the given numeric address, or all interfaces.
    public static func listenAddress(_ text: String?, port: Int) -> SocketAddress? {
        guard let text else { return SocketAddress(host: ProxyConfig.Defaults.listenHost, port: port) }
        let host = text.hasPrefix("[") && text.hasSuffix("]") ? String(text.dropFirst().dropLast()) : text
        return SocketAddress(host: host, port: port)
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> Substring {
        var slice = self
        while slice.first == set { slice.removeFirst() }
        while slice.last == set { slice.removeLast() }
        return slice
    }
}

#if canImport(Glibc)
import Glibc
#endif
import ProxyHTTP

/// One line per request on stdout, in one `write`. The default format is the
/// Kubeless Go proxy's (Go's `log` timestamp, remote address, quoted request
/// line, status, user agent) followed by the duration in seconds, so existing
/// log parsing keeps working:
///
///     2026/11/22 11:30:53 127.0.0.1:53412 "GET /path?q=1 HTTP/1.1" 200 curl/8.5.0 0.000412
final class AccessLog {
    private let format: AccessLogFormat
    private let fileDescriptor: Int32
    private var line: [UInt8] = []
    private var cachedSecond = 0
    private var cachedTimestamp: [UInt8] = []
    private(set) var linesDropped = 0

    init(format: AccessLogFormat, fileDescriptor: Int32 = 1) {
        self.format = format
        self.fileDescriptor = fileDescriptor
        line.reserveCapacity(512)
    }

    func write(remote: String, head: MessageHead, status: Int, durationNanoseconds: UInt64, failure: String?) {
        guard format == .text else { return }
        line.removeAll(keepingCapacity: true)
        appendTimestamp()
        line.append(contentsOf: remote.utf8)
        line.append(contentsOf: " \"".utf8)
        line.append(contentsOf: head.methodBytes)
        line.append(0x20)
        appendPrintable(head.target)
        line.append(contentsOf: head.isHTTP10 ? " HTTP/1.0\" ".utf8 : " HTTP/1.1\" ".utf8)
        HeadWriter.appendDecimal(status, into: &line)
        line.append(0x20)
        if let agent = head.firstValue(of: "user-agent") { appendPrintable(agent) }
        line.append(0x20)
        appendSeconds(durationNanoseconds)
        if let failure {
            line.append(contentsOf: " error=\"".utf8)
            line.append(contentsOf: failure.utf8)
            line.append(0x22)
        }
        line.append(0x0A)
        let written = line.withUnsafeBytes { Glibc.write(fileDescriptor, $0.baseAddress, $0.count) }
        if written != line.count { linesDropped += 1 }
    }

    /// Bytes a client sent are logged, but never a control byte or a quote.
    private func appendPrintable(_ bytes: ArraySlice<UInt8>) {
        for byte in bytes {
            line.append(byte < 0x20 || byte == 0x7F || byte == 0x22 ? UInt8(ascii: "?") : byte)
        }
    }

    private func appendSeconds(_ nanoseconds: UInt64) {
        let micros = Int(nanoseconds / 1_000)
        HeadWriter.appendDecimal(micros / 1_000_000, into: &line)
        line.append(UInt8(ascii: "."))
        var fraction = micros % 1_000_000
        var digits = [UInt8](repeating: 0x30, count: 6)
        for index in stride(from: 5, through: 0, by: -1) {
            digits[index] = UInt8(0x30 + fraction % 10)
            fraction /= 10
        }
        line.append(contentsOf: digits)
    }

    /// `YYYY/MM/DD HH:MM:SS ` in local time, as Go's log package writes it;
    /// formatted once per second.
    private func appendTimestamp() {
        var now = time(nil)
        if Int(now) != cachedSecond {
            cachedSecond = Int(now)
            var parts = tm()
            localtime_r(&now, &parts)
            cachedTimestamp.removeAll(keepingCapacity: true)
            for (value, separator) in [(Int(parts.tm_year) + 1900, "/"), (Int(parts.tm_mon) + 1, "/"), (Int(parts.tm_mday), " "),
                                       (Int(parts.tm_hour), ":"), (Int(parts.tm_min), ":"), (Int(parts.tm_sec), " ")] {
                if value < 10 { cachedTimestamp.append(0x30) }
                HeadWriter.appendDecimal(value, into: &cachedTimestamp)
                cachedTimestamp.append(contentsOf: separator.utf8)
            }
        }
        line.append(contentsOf: cachedTimestamp)
    }
}

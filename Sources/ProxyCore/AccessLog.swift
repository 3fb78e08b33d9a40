import ProxyHTTP
import ProxySystem

/// What one access-log line says about an exchange.
struct AccessRecord {
    var remote: String
    var head: MessageHead
    var status: Int
    var durationNanoseconds: UInt64
    var firstByteNanoseconds: UInt64?
    var requestBytes: Int
    var responseBytes: Int
    var requestID: ArraySlice<UInt8>
    /// The W3C trace id (32 hex digits), or empty.
    var traceID: ArraySlice<UInt8> = []
    /// Why the proxy ended the exchange: the detail, and its token.
    var failure: String?
    var error: ProxyError? = nil
}

/// One line per request on stdout, rendered into a reused buffer and written
/// whole (docs/logging.md shows both formats).
///
/// `text`, the default, is the Kubeless Go proxy's line (Go's `log`
/// timestamp, remote address, quoted request line, status, user agent)
/// followed by the duration in seconds, so existing parsing keeps working:
///
///     2026/11/22 11:30:53 127.0.0.1:53412 "GET /path?q=1 HTTP/1.1" 200 curl/8.5.0 0.000412
final class AccessLog {
    private let format: AccessLogFormat
    private let output: LogOutput?
    private let upstream: [UInt8]
    private var line: [UInt8] = []
    private var textSecond = -1
    private var textTimestamp: [UInt8] = []
    private var jsonSecond = -1
    private var jsonTimestamp: [UInt8] = []

    init(format: AccessLogFormat, output: LogOutput?, upstream: String) {
        self.format = format
        self.output = output
        self.upstream = Array(upstream.utf8)
        line.reserveCapacity(512)
    }

    var linesDropped: Int { output?.linesDropped ?? 0 }

    func write(_ record: AccessRecord) {
        guard let output, format != .none else { return }
        line.removeAll(keepingCapacity: true)
        switch format {
        case .text: renderText(record)
        case .json: renderJSON(record)
        case .none: return
        }
        line.append(0x0A)
        output.write(line)
    }

    // MARK: text

    private func renderText(_ record: AccessRecord) {
        appendTextTimestamp()
        line.append(contentsOf: record.remote.utf8)
        line.append(" \"")
        line.append(contentsOf: record.head.methodBytes)
        line.append(0x20)
        appendPrintable(record.head.target)
        line.append(contentsOf: record.head.isHTTP10 ? " HTTP/1.0\" ".utf8 : " HTTP/1.1\" ".utf8)
        HeadWriter.appendDecimal(record.status, into: &line)
        line.append(0x20)
        if let agent = record.head.firstValue(of: .userAgent) { appendPrintable(agent) }
        line.append(0x20)
        appendSeconds(record.durationNanoseconds)
        if let failure = record.failure {
            line.append(" error=\"")
            line.append(contentsOf: failure.utf8)
            line.append(0x22)
        }
    }

    /// Bytes a client sent are logged, but never a control byte or a quote.
    private func appendPrintable(_ bytes: ArraySlice<UInt8>) {
        if !bytes.contains(where: Self.isUnprintable) {
            line.append(contentsOf: bytes)
            return
        }
        for byte in bytes { line.append(Self.isUnprintable(byte) ? UInt8(ascii: "?") : byte) }
    }

    private static func isUnprintable(_ byte: UInt8) -> Bool { byte < 0x20 || byte == 0x7F || byte == 0x22 }

    /// `YYYY/MM/DD HH:MM:SS ` in local time, as Go's log package writes it.
    private func appendTextTimestamp() {
        Self.refresh(&textTimestamp, second: &textSecond, now: SystemInfo.wallClockWholeSeconds, utc: false, dateSeparator: "/", middle: " ", end: " ")
        line.append(contentsOf: textTimestamp)
    }

    /// Re-renders a cached timestamp when the second has changed.
    private static func refresh(_ cached: inout [UInt8], second cachedSecond: inout Int, now: Int, utc: Bool,
                                dateSeparator: String, middle: String, end: String) {
        guard now != cachedSecond else { return }
        cachedSecond = now
        let parts = SystemInfo.calendarTime(seconds: now, utc: utc)
        cached.removeAll(keepingCapacity: true)
        let fields = [(parts.year, dateSeparator), (parts.month, dateSeparator), (parts.day, middle),
                      (parts.hour, ":"), (parts.minute, ":"), (parts.second, end)]
        for (value, separator) in fields {
            if value < 10 { cached.append(0x30) }
            HeadWriter.appendDecimal(value, into: &cached)
            cached.append(contentsOf: separator.utf8)
        }
    }

    // MARK: json

    private func renderJSON(_ record: AccessRecord) {
        let head = record.head
        line.append("{\"time\":\"")
        appendJSONTimestamp()
        line.append("\",\"method\":")
        appendJSONString(head.methodBytes)
        let target = head.target
        let question = target.firstIndex(of: UInt8(ascii: "?"))
        line.append(",\"path\":")
        appendJSONString(question.map { target[..<$0] } ?? target)
        line.append(",\"query\":")
        appendJSONString(question.map { target[($0 + 1)...] } ?? [])
        line.append(contentsOf: head.isHTTP10 ? ",\"protocol\":\"HTTP/1.0\"".utf8 : ",\"protocol\":\"HTTP/1.1\"".utf8)
        line.append(",\"status\":")
        HeadWriter.appendDecimal(record.status, into: &line)
        line.append(",\"request_bytes\":")
        HeadWriter.appendDecimal(record.requestBytes, into: &line)
        line.append(",\"response_bytes\":")
        HeadWriter.appendDecimal(record.responseBytes, into: &line)
        line.append(",\"duration\":")
        appendSeconds(record.durationNanoseconds)
        line.append(",\"ttfb\":")
        if let firstByte = record.firstByteNanoseconds { appendSeconds(firstByte) } else { line.append("null") }
        line.append(",\"upstream\":")
        appendJSONString(upstream[...])
        line.append(",\"remote\":")
        appendJSONString(Array(record.remote.utf8)[...])
        line.append(",\"user_agent\":")
        appendJSONString(head.firstValue(of: .userAgent) ?? [])
        line.append(",\"request_id\":")
        appendJSONString(record.requestID)
        line.append(",\"trace_id\":")
        if record.traceID.isEmpty { line.append("null") } else { appendJSONString(record.traceID) }
        line.append(",\"error\":")
        if let error = record.error { appendJSONString(Array(error.token.utf8)[...]) } else { line.append("null") }
        line.append(",\"error_detail\":")
        if let failure = record.failure { appendJSONString(Array(failure.utf8)[...]) } else { line.append("null") }
        line.append(UInt8(ascii: "}"))
    }

    /// A JSON string of arbitrary bytes: quotes, backslashes and control bytes
    /// escaped, bytes that are not valid UTF-8 replaced by U+FFFD.
    private func appendJSONString(_ bytes: ArraySlice<UInt8>) {
        line.append(0x22)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte < 0x80 {
                switch byte {
                case 0x22: line.append("\\\"")
                case 0x5C: line.append("\\\\")
                case 0..<0x20, 0x7F:
                    line.append("\\u00")
                    line.append(Self.hexDigits[Int(byte >> 4)])
                    line.append(Self.hexDigits[Int(byte & 0xF)])
                default: line.append(byte)
                }
                index += 1
                continue
            }
            let length = UTF8Validation.sequenceLength(bytes, at: index)
            if length > 0 {
                line.append(contentsOf: bytes[index..<(index + length)])
                index += length
            } else {
                line.append("\\ufffd")
                index += 1
            }
        }
        line.append(0x22)
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// RFC 3339 in UTC with milliseconds: `2026-11-22T11:30:53.123Z`.
    private func appendJSONTimestamp() {
        let now = SystemInfo.wallClockSeconds
        let seconds = Int(now)
        Self.refresh(&jsonTimestamp, second: &jsonSecond, now: seconds, utc: true, dateSeparator: "-", middle: "T", end: "")
        line.append(contentsOf: jsonTimestamp)
        let millis = Int((now - Double(seconds)) * 1000)
        line.append(UInt8(ascii: "."))
        line.append(UInt8(0x30 + millis / 100 % 10))
        line.append(UInt8(0x30 + millis / 10 % 10))
        line.append(UInt8(0x30 + millis % 10))
        line.append(UInt8(ascii: "Z"))
    }

    // MARK: shared

    /// Seconds with six decimals.
    private func appendSeconds(_ nanoseconds: UInt64) {
        let micros = Int(nanoseconds / 1_000)
        HeadWriter.appendDecimal(micros / 1_000_000, into: &line)
        line.append(UInt8(ascii: "."))
        var divisor = 100_000
        let fraction = micros % 1_000_000
        while divisor > 0 {
            line.append(UInt8(0x30 + fraction / divisor % 10))
            divisor /= 10
        }
    }
}

/// Checks UTF-8 sequences byte by byte, without building Strings.
enum UTF8Validation {
    /// The length of the well-formed sequence starting at `index`, or 0.
    static func sequenceLength(_ bytes: ArraySlice<UInt8>, at index: Int) -> Int {
        let lead = bytes[index]
        let length: Int
        var lower: UInt8 = 0x80, upper: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; upper = 0x9F
        case 0xF0: length = 4; lower = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; upper = 0x8F
        default: return 0
        }
        guard index + length <= bytes.endIndex else { return 0 }
        for offset in 1..<length {
            let byte = bytes[index + offset]
            let (low, high) = offset == 1 ? (lower, upper) : (UInt8(0x80), UInt8(0xBF))
            if byte < low || byte > high { return 0 }
        }
        return length
    }
}

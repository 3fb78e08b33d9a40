/// Writes the Prometheus text exposition format, version 0.0.4, into a byte
/// array. Numbers are written as Go's client writes them (`1` not `1.0`), so
/// label values like `le="1"` match what existing dashboards select.
public struct ExpositionWriter {
    public private(set) var bytes: [UInt8] = []

    public init(reservingCapacity capacity: Int = 8192) {
        bytes.reserveCapacity(capacity)
    }

    public enum Kind: String, Sendable { case counter, gauge, histogram }

    /// `# HELP` and `# TYPE` lines that open a family.
    public mutating func family(_ name: String, _ kind: Kind, help: String) {
        append("# HELP ")
        append(name)
        bytes.append(0x20)
        appendEscaped(help, quote: false)
        append("\n# TYPE ")
        append(name)
        bytes.append(0x20)
        append(kind.rawValue)
        bytes.append(0x0A)
    }

    /// One sample line: `name{labels} value`.
    public mutating func sample(_ name: String, labels: Labels = Labels(), _ value: Double) {
        append(name)
        labels.write(into: &bytes, extra: nil)
        bytes.append(0x20)
        appendNumber(value)
        bytes.append(0x0A)
    }

    public mutating func sample(_ name: String, labels: Labels = Labels(), _ value: Int) {
        sample(name, labels: labels, Double(value))
    }

    /// The `_bucket`, `_sum` and `_count` lines of one histogram series.
    public mutating func histogram(_ name: String, labels: Labels = Labels(), _ histogram: Histogram) {
        let counts = histogram.cumulativeCounts
        for (index, bound) in histogram.bounds.enumerated() {
            append(name)
            append("_bucket")
            labels.write(into: &bytes, extra: ("le", Self.format(bound)))
            bytes.append(0x20)
            appendNumber(Double(counts[index]))
            bytes.append(0x0A)
        }
        append(name)
        append("_bucket")
        labels.write(into: &bytes, extra: ("le", "+Inf"))
        bytes.append(0x20)
        appendNumber(Double(histogram.count))
        bytes.append(0x0A)
        sample(name + "_sum", labels: labels, histogram.sum)
        sample(name + "_count", labels: labels, histogram.count)
    }

    private mutating func append(_ text: String) { bytes.append(contentsOf: text.utf8) }

    private mutating func appendNumber(_ value: Double) { append(Self.format(value)) }

    /// Help text escapes `\` and newline; label values also `"`.
    mutating func appendEscaped(_ text: String, quote: Bool) {
        Self.escape(text, quote: quote, into: &bytes)
    }

    static func escape(_ text: String, quote: Bool, into bytes: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
            case 0x0A: bytes.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\"") where quote: bytes.append(contentsOf: #"\""#.utf8)
            default: bytes.append(byte)
            }
        }
    }

    /// A number for the exposition: integers without a fraction or exponent
    /// (Go's client writes 1e6 and above in exponent form; Prometheus parses
    /// both alike), other values in their shortest form, `+Inf`, `NaN`. Bucket
    /// bounds (`le`) come out exactly as Go's client writes them.
    public static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        var text = value.description
        // Swift writes 1e-05 as "1e-05" like Go; it writes 1.5e+20 alike too.
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }
}

/// A label set, escaped and rendered once when created.
public struct Labels: Sendable {
    let rendered: [UInt8]

    public init() { rendered = [] }

    public init(_ pairs: KeyValuePairs<String, String>) {
        var text: [UInt8] = []
        for (index, pair) in pairs.enumerated() {
            if index > 0 { text.append(UInt8(ascii: ",")) }
            text.append(contentsOf: pair.key.utf8)
            text.append(contentsOf: "=\"".utf8)
            ExpositionWriter.escape(pair.value, quote: true, into: &text)
            text.append(UInt8(ascii: "\""))
        }
        rendered = text
    }

    func write(into bytes: inout [UInt8], extra: (String, String)?) {
        guard !rendered.isEmpty || extra != nil else { return }
        bytes.append(UInt8(ascii: "{"))
        bytes.append(contentsOf: rendered)
        if let extra {
            if !rendered.isEmpty { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: extra.0.utf8)
            bytes.append(contentsOf: "=\"".utf8)
            bytes.append(contentsOf: extra.1.utf8)
            bytes.append(UInt8(ascii: "\""))
        }
        bytes.append(UInt8(ascii: "}"))
    }
}

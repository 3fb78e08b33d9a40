/// The response statuses from the runtime that count as failures of its
/// function (`function_failures_total`): by default every 5xx, which is what
/// the Kubeless runtimes answer when the function throws. The proxy's own
/// error answers to a proxied request (502, 504, 408, a cut response) count
/// whatever this says; a 503 for a full queue is no call and is not counted.
public struct FailureStatuses: Sendable, Equatable {
    /// One bit per status 0-639.
    private var words = [UInt64](repeating: 0, count: 10)

    public init() {}

    /// Every 5xx.
    public static let serverErrors: FailureStatuses = parse("5xx")!

    public func contains(_ status: Int) -> Bool {
        guard status >= 0, status < 640 else { return false }
        return words[status >> 6] & (1 << UInt64(status & 63)) != 0
    }

    private mutating func insert(_ status: Int) {
        words[status >> 6] |= 1 << UInt64(status & 63)
    }

    /// `none`, or comma-separated codes (`429`) and classes (`5xx`) from 100
    /// to 599; `nil` if the text is anything else.
    public static func parse(_ text: String) -> FailureStatuses? {
        var set = FailureStatuses()
        if Substring(text).trimmingCharacters(in: " ") == "none" { return set }
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let item = part.trimmingCharacters(in: " ").lowercased()
            let bytes = Array(item.utf8)
            guard bytes.count == 3, let first = bytes.first, (UInt8(ascii: "1")...UInt8(ascii: "5")).contains(first) else { return nil }
            if bytes[1] == UInt8(ascii: "x") && bytes[2] == UInt8(ascii: "x") {
                let base = Int(first - UInt8(ascii: "0")) * 100
                for status in base..<(base + 100) { set.insert(status) }
            } else if let status = Int(item), (100...599).contains(status) {
                set.insert(status)
            } else {
                return nil
            }
        }
        return set
    }
}

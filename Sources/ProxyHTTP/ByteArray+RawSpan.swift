extension Array where Element == UInt8 {
    /// Appends the bytes of `span` from `offset` on: how callers outside the
    /// C layers keep bytes past the callback that lent them.
    public mutating func append(bytesOf span: RawSpan, from offset: Int = 0) {
        guard offset < span.byteCount else { return }
        span.withUnsafeBytes { raw in append(contentsOf: raw[offset...]) }
    }
}

extension Array where Element == UInt8 {
    /// The array's bytes as a `RawSpan`, for the length of `body`: how code
    /// built with strict memory safety hands kept bytes to a parser or stream.
    public func withRawSpan<R>(_ body: (RawSpan) throws -> R) rethrows -> R {
        try withUnsafeBytes { try body($0.bytes) }
    }
}

extension Array where Element == UInt8 {
    /// Becomes the 32 lower-case hex digits of `high` then `low`, written in
    /// place (a request id: no append or bounds check per digit).
    public mutating func setHexDigits(high: UInt64, low: UInt64) {
        if count != 32 { self = [UInt8](repeating: 0, count: 32) }
        withUnsafeMutableBufferPointer { digits in
            for index in 0..<16 {
                let shift = UInt64(60 - 4 * index)
                digits[index] = hexDigit(high >> shift)
                digits[16 + index] = hexDigit(low >> shift)
            }
        }
    }
}

@inline(__always)
private func hexDigit(_ value: UInt64) -> UInt8 {
    let nibble = UInt8(truncatingIfNeeded: value & 0xF)
    return nibble < 10 ? 0x30 + nibble : 0x57 + nibble
}

extension Array where Element == UInt8 {
    /// Writes the 16 hex digits of `value` (lower case, most significant
    /// first) at `offset`, in place, and then `source` at `copyOffset` (one
    /// memcpy): a made traceparent's span id and trace id in one call. The
    /// array must hold them all.
    public mutating func writeHexDigits(of value: UInt64, at offset: Int, copying source: [UInt8], at copyOffset: Int) {
        precondition(offset >= 0 && offset + 16 <= count && copyOffset >= 0 && copyOffset + source.count <= count,
                     "hex digits out of range")
        withUnsafeMutableBufferPointer { bytes in
            for index in 0..<16 {
                bytes[offset + index] = hexDigit(value >> UInt64(60 - 4 * index))
            }
            source.withUnsafeBufferPointer { from in
                guard let target = bytes.baseAddress, let start = from.baseAddress else { return }
                (target + copyOffset).update(from: start, count: from.count)
            }
        }
    }
}

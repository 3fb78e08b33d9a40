extension Array where Element == UInt8 {
    /// Appends the bytes of `span` from `offset` on: how callers outside the
    /// C layers keep bytes past the callback that lent them.
    public mutating func append(bytesOf span: RawSpan, from offset: Int = 0) {
        guard offset < span.byteCount else { return }
        span.withUnsafeBytes { raw in append(contentsOf: raw[offset...]) }
    }
}

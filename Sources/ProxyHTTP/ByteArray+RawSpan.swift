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

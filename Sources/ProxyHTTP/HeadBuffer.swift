/// A growable run of bytes that the proxy writes heads into, reused from one
/// message to the next. An append is a capacity check and a copy, where
/// `Array.append(contentsOf:)` pays a uniqueness check and a generic copy
/// on every call, and a head is written in many small appends (the cost:
/// docs/architecture.md, "Heads are written into a `HeadBuffer`").
public final class HeadBuffer {
    private var base: UnsafeMutableRawPointer
    private var capacity: Int
    public private(set) var count = 0

    /// Nothing is reserved by default: a connection that never writes a head
    /// costs no buffer (10,000 idle connections are 10,000 of these).
    public init(capacity: Int = 0) {
        self.capacity = max(capacity, 0)
        base = .allocate(byteCount: self.capacity, alignment: 1)
    }

    deinit { base.deallocate() }

    public var isEmpty: Bool { count == 0 }

    /// Empties the buffer, keeping its memory.
    public func removeAll() { count = 0 }

    @inline(__always)
    private func reserve(_ extra: Int) {
        if count + extra > capacity { grow(to: count + extra) }
    }

    private func grow(to needed: Int) {
        var newCapacity = max(capacity * 2, 256)
        while newCapacity < needed { newCapacity *= 2 }
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 1)
        newBase.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inline(__always)
    public func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        (base + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    @inline(__always)
    public func append(_ byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// A literal's bytes (no String machinery).
    @inline(__always)
    public func append(_ text: StaticString) {
        text.withUTF8Buffer { append(UnsafeRawBufferPointer($0)) }
    }

    public func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    public func append(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { append($0) }
    }

    public func append(bytesOf span: RawSpan) {
        span.withUnsafeBytes { append($0) }
    }

    /// The bytes, lent for the duration of `body` (to write them to a stream).
    public func withBytes<R>(_ body: (RawSpan) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count).bytes)
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// A copy of the bytes (tests, rare paths).
    public var array: [UInt8] { Array(UnsafeRawBufferPointer(start: base, count: count)) }
}

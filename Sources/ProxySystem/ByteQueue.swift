#if canImport(Glibc)
private import Glibc
#endif

/// A growable run of raw bytes, consumed from the front. Used for bytes
/// waiting to be written; its memory is reused for the life of the stream.
struct ByteQueue {
    private(set) var base: UnsafeMutableRawPointer?
    private(set) var capacity = 0
    private(set) var start = 0
    private(set) var end = 0

    var count: Int { end - start }
    var isEmpty: Bool { start == end }

    var readable: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base.map { $0 + start }, count: count)
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0, let source = bytes.baseAddress else { return }
        reserve(bytes.count)
        (base! + end).copyMemory(from: source, byteCount: bytes.count)
        end += bytes.count
    }

    mutating func consume(_ byteCount: Int) {
        start += byteCount
        if start >= end { start = 0; end = 0 }
    }

    mutating func removeAll() { start = 0; end = 0 }

    /// Gives back memory beyond `keeping` bytes, so one large burst does not
    /// pin its buffer for the life of an idle connection.
    mutating func shrinkIfEmpty(keeping: Int) {
        guard isEmpty, capacity > keeping else { return }
        free(base)
        base = nil
        capacity = 0
    }

    private mutating func reserve(_ extra: Int) {
        if end + extra <= capacity { return }
        if start > 0 {
            if count > 0 { base!.copyMemory(from: base! + start, byteCount: count) }
            end -= start
            start = 0
            if end + extra <= capacity { return }
        }
        // Small first: most heads and bodies are small, and every idle
        // keep-alive connection keeps its buffer (10,000 of them must fit).
        var newCapacity = max(capacity * 2, 512)
        while newCapacity < end + extra { newCapacity *= 2 }
        base = realloc(base, newCapacity)
        precondition(base != nil, "out of memory growing a write queue to \(newCapacity) bytes")
        capacity = newCapacity
    }

    mutating func deallocate() {
        free(base)
        base = nil
        capacity = 0
        start = 0
        end = 0
    }
}

/// Header names compared as bytes, ASCII case-insensitively.
public enum HeaderName {
    /// `bytes` equals `lowercaseName` ignoring ASCII case.
    @inline(__always)
    public static func equals(_ bytes: ArraySlice<UInt8>, _ lowercaseName: StaticString) -> Bool {
        guard bytes.count == lowercaseName.utf8CodeUnitCount else { return false }
        return lowercaseName.withUTF8Buffer { name in
            var index = bytes.startIndex
            for expected in name {
                if lowercased(bytes[index]) != expected { return false }
                index += 1
            }
            return true
        }
    }

    @inline(__always)
    static func lowercased(_ byte: UInt8) -> UInt8 {
        (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
    }

    static func equalsIgnoringCase(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { lowercased($0) == lowercased($1) }
    }

    /// Whether `name` is one of the comma-separated tokens of the head's
    /// `Connection` fields (the fields they name are hop-by-hop too).
    /// Scans the bytes in place: nothing is allocated.
    static func isNamedByConnection(_ name: ArraySlice<UInt8>, in head: MessageHead) -> Bool {
        for index in 0..<head.fieldCount where equals(head.name(at: index), "connection") {
            let value = head.value(at: index)
            var tokenStart = value.startIndex
            while tokenStart <= value.endIndex {
                let tokenEnd = value[tokenStart...].firstIndex(of: UInt8(ascii: ",")) ?? value.endIndex
                if equalsIgnoringCase(trimmed(value[tokenStart..<tokenEnd]), name) { return true }
                tokenStart = tokenEnd + 1
            }
        }
        return false
    }

    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, first == 0x20 || first == 0x09 { slice.removeFirst() }
        while let last = slice.last, last == 0x20 || last == 0x09 { slice.removeLast() }
        return slice
    }
}

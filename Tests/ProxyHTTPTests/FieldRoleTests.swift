import Testing
@testable import ProxyHTTP

struct FieldRoleTests {
    // The token-byte masks accept exactly RFC 9110's tchar, for all 256 byte values.
    @Test func tokenBytesAreExactlyTchar() {
        let tchar = Set(Array("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8))
        for byte in 0...255 {
            #expect(FieldRole.isTokenByte(UInt8(byte)) == tchar.contains(UInt8(byte)), "byte \(byte)")
        }
    }

    // A name is valid if it is non-empty and all tchar.
    @Test(arguments: [("Content-Type", true), ("x-a_b.c~d", true), ("", false), ("Host ", false), ("a:b", false), ("caf\u{e9}", false)])
    func validNames(name: String, valid: Bool) {
        let bytes = Array(name.utf8)
        #expect(bytes.withUnsafeBufferPointer { FieldRole.isValidName($0) } == valid)
    }
}

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

    // The caller's consumed name matches in any case and at its length only; known names keep their roles.
    @Test(arguments: [("X-Request-Timeout", FieldRole.consumed), ("x-request-timeout", .consumed), ("x-request-timeou", .ordinary),
                      ("x-request-timeouts", .ordinary), ("x-request-id", .requestID), ("proxy-x", .hopByHop)])
    func consumedFieldRole(name: String, role: FieldRole) {
        let bytes = Array(name.utf8)
        #expect(bytes.withUnsafeBufferPointer { FieldRole.of($0, consumed: "x-request-timeout") } == role)
        #expect(bytes.withUnsafeBufferPointer { FieldRole.of($0) } == (role == .consumed ? .ordinary : role))
    }

    // A name is valid if it is non-empty and all tchar.
    @Test(arguments: [("Content-Type", true), ("x-a_b.c~d", true), ("", false), ("Host ", false), ("a:b", false), ("caf\u{e9}", false)])
    func validNames(name: String, valid: Bool) {
        let bytes = Array(name.utf8)
        #expect(bytes.withUnsafeBufferPointer { FieldRole.isValidName($0) } == valid)
    }

    // Trace Context and CloudEvents names get their roles in any case; a bare "ce-" or a name that only contains it does not.
    @Test(arguments: [("traceparent", FieldRole.traceparent), ("TraceParent", .traceparent), ("ce-id", .cloudEvent),
                      ("CE-Type", .cloudEvent), ("ce-", .ordinary), ("x-ce-id", .ordinary), ("tracestate", .ordinary)])
    func traceAndCloudEventRoles(name: String, role: FieldRole) {
        #expect(Array(name.utf8).withUnsafeBufferPointer { FieldRole.of($0) } == role)
    }
}

/// Why a message could not be parsed, and the status a client should get.
public struct ParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Not valid HTTP/1.x (llhttp's strict mode: smuggling shapes included).
        case malformed
        /// The request target is longer than the limit.
        case targetTooLong
        /// The header section has too many bytes or fields.
        case headersTooLarge
        /// A transfer coding other than `chunked` (RFC 9112 6.1: 501).
        case unsupportedTransferCoding
        /// An HTTP major version other than 1 (505).
        case unsupportedVersion
    }

    public let kind: Kind
    /// llhttp's own reason, or ours for the limits.
    public let reason: String

    public var description: String { reason }

    /// The status a client gets for a request with this error.
    public var statusCode: Int {
        switch kind {
        case .malformed: 400
        case .targetTooLong: 414
        case .headersTooLarge: 431
        case .unsupportedTransferCoding: 501
        case .unsupportedVersion: 505
        }
    }
}

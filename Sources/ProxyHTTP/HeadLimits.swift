/// Limits on what one message head may hold.
public struct HeadLimits: Sendable {
    public var maxTargetBytes: Int
    public var maxHeaderBytes: Int
    public var maxHeaderCount: Int
    /// Interim (1xx) responses allowed before a final one.
    public var maxInterimResponses: Int
    /// Refuse an HTTP/1.1 request without exactly one Host (RFC 9112 3.2
    /// says a server must; the proxy does, a bare parser need not).
    public var requiresHost: Bool

    public init(maxTargetBytes: Int = 8 * 1024, maxHeaderBytes: Int = 32 * 1024, maxHeaderCount: Int = 100,
                maxInterimResponses: Int = 16, requiresHost: Bool = false) {
        self.maxTargetBytes = maxTargetBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxInterimResponses = maxInterimResponses
        self.requiresHost = requiresHost
    }
}

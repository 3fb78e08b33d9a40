import ProxyHTTP

/// Why the proxy, not the runtime, ended an exchange: one short token per
/// reason. It goes to the client in `X-Runtime-Proxy-Error` on every error
/// answer the proxy makes, and to the JSON log's `error` field; the text
/// log's `error="..."` keeps the detail. docs/logging.md lists them.
enum ProxyError: String, Sendable, CaseIterable {
    case upstreamRefused = "upstream-refused"
    case upstreamUnreachable = "upstream-unreachable"
    case upstreamClosed = "upstream-closed"
    case upstreamReset = "upstream-reset"
    case invalidResponse = "invalid-response"
    case connectTimeout = "connect-timeout"
    case requestTimeout = "request-timeout"
    case responseStartTimeout = "response-start-timeout"
    case responseIdleTimeout = "response-idle-timeout"
    case headerTimeout = "header-timeout"
    case queueFull = "queue-full"
    case queueTimeout = "queue-timeout"
    case runtimeStarting = "runtime-starting"
    case badRequest = "bad-request"
    case uriTooLong = "uri-too-long"
    case headersTooLarge = "headers-too-large"
    case methodNotAllowed = "method-not-allowed"
    case bodyTooLarge = "body-too-large"
    case bodyBuffersFull = "body-buffers-full"
    /// Logged only: the client went away (499) or its connection failed.
    case clientClosed = "client-closed"
    case clientError = "client-error"

    /// The token, as the header and the log write it.
    var token: String { rawValue }

    /// The `X-Runtime-Proxy-Error` field carrying this token, ready to add to a head.
    var field: [UInt8] { Self.fields[self] ?? [] }

    private static let fields: [ProxyError: [UInt8]] = Dictionary(uniqueKeysWithValues: allCases.map {
        ($0, Array("\(headerName): \($0.rawValue)\r\n".utf8))
    })

    /// The header's name; a runtime's own field of that name is dropped.
    static let headerName = "X-Runtime-Proxy-Error"
    /// Lower case, for the response parser's consumed field.
    static let consumedName: StaticString = "x-runtime-proxy-error"

    init(_ failure: UpstreamFailure) {
        switch failure {
        case .refused: self = .upstreamRefused
        case .unreachable: self = .upstreamUnreachable
        case .closed: self = .upstreamClosed
        case .reset: self = .upstreamReset
        case .malformed: self = .invalidResponse
        }
    }

    /// A request that could not be parsed, by the status it is answered with.
    init(parseStatus status: Int) {
        switch status {
        case 414: self = .uriTooLong
        case 431: self = .headersTooLarge
        default: self = .badRequest
        }
    }
}

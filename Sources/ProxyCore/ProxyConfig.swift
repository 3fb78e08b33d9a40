import ProxyHTTP
import ProxyUV

/// Where requests go: the language runtime's HTTP server.
public enum UpstreamTarget: Sendable, CustomStringConvertible {
    case tcp(SocketAddress)
    case unix(path: String)

    public var description: String {
        switch self {
        case .tcp(let address): address.description
        case .unix(let path): "unix:\(path)"
        }
    }
}

/// Every knob of the proxy, resolved and validated (see docs/configuration.md).
public struct ProxyConfig: Sendable {
    /// The address and port clients connect to (`FUNC_PORT`, all interfaces).
    public var listenAddress: SocketAddress
    public var upstream: UpstreamTarget

    /// Whole request: from the request head until the response is complete (`FUNC_TIMEOUT`).
    public var requestTimeoutMilliseconds: UInt64 = 180_000
    /// From the first byte of a request until its head is complete (slowloris guard).
    public var headerTimeoutMilliseconds: UInt64 = 15_000
    /// A client keep-alive connection with no request in progress.
    public var clientIdleTimeoutMilliseconds: UInt64 = 75_000
    /// Establishing a new upstream connection.
    public var connectTimeoutMilliseconds: UInt64 = 5_000
    /// A pooled upstream connection waiting for its next request.
    public var upstreamIdleTimeoutMilliseconds: UInt64 = 4_000
    /// An upgraded (tunnelled) connection with no bytes either way.
    public var tunnelIdleTimeoutMilliseconds: UInt64 = 300_000
    /// Idle upstream connections kept for reuse.
    public var maxIdleUpstreamConnections = 64

    public var headLimits = HeadLimits()
    public var healthPath = "/healthz"
    public var metricsPath = "/metrics"
    public var accessLog: AccessLogFormat = .text

    public init(listenAddress: SocketAddress, upstream: UpstreamTarget) {
        self.listenAddress = listenAddress
        self.upstream = upstream
    }
}

public enum AccessLogFormat: String, Sendable, CaseIterable {
    /// The Kubeless Go proxy's line, followed by the duration.
    case text
    case none
}

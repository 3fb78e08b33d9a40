#if canImport(Glibc)
internal import Glibc
#endif
internal import CLibUV

/// A numeric IPv4 or IPv6 socket address. Host names are resolved once at
/// start-up by the caller, never on the data path.
public struct SocketAddress: Sendable, CustomStringConvertible {
    var storage = sockaddr_storage()
    public let host: String
    public let port: Int

    /// Parses a numeric address (`127.0.0.1`, `::1`, `0.0.0.0`, `::`).
    public init?(host: String, port: Int) {
        guard (0...65535).contains(port) else { return nil }
        self.host = host
        self.port = port
        let parsed: Int32 = withUnsafeMutableBytes(of: &storage) { raw in
            if host.contains(":") {
                return uv_ip6_addr(host, Int32(port), raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self))
            }
            return uv_ip4_addr(host, Int32(port), raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self))
        }
        if parsed != 0 { return nil }
    }

    public var isIPv6: Bool { Int32(storage.ss_family) == AF_INET6 }

    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// 127.0.0.0/8 or ::1.
    public var isLoopback: Bool { host.hasPrefix("127.") || host == "::1" }

    /// Whether another socket on this machine holds this address (listens on
    /// it, or on the wildcard address with its port): a bind with
    /// SO_REUSEADDR fails with EADDRINUSE. Other failures say nothing.
    public func isInUse() -> Bool {
        let fd = Glibc.socket(isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        let length = socklen_t(isIPv6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        return withSockaddr { Glibc.bind(fd, $0, length) } != 0 && errno == EADDRINUSE
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>) -> R) -> R {
        withUnsafeBytes(of: storage) { body($0.baseAddress!.assumingMemoryBound(to: sockaddr.self)) }
    }

    /// Reads a `sockaddr` filled in by the kernel into host text and port.
    static func describe(_ storage: sockaddr_storage) -> (host: String, port: Int)? {
        withUnsafeBytes(of: storage) { raw -> (String, Int)? in
            var text = [CChar](repeating: 0, count: 64)
            let base = raw.baseAddress!
            switch Int32(storage.ss_family) {
            case AF_INET:
                let address = base.assumingMemoryBound(to: sockaddr_in.self)
                uv_ip4_name(address, &text, text.count)
                return (String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self),
                        Int(UInt16(bigEndian: address.pointee.sin_port)))
            case AF_INET6:
                let address = base.assumingMemoryBound(to: sockaddr_in6.self)
                uv_ip6_name(address, &text, text.count)
                var host = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if host.hasPrefix("::ffff:"), host.contains(".") { host.removeFirst(7) }
                return (host, Int(UInt16(bigEndian: address.pointee.sin6_port)))
            default:
                return nil
            }
        }
    }
}

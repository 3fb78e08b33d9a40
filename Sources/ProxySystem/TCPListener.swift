#if canImport(Glibc)
internal import Glibc
#endif
internal import CLibUV

public protocol TCPListenerDelegate: AnyObject {
    /// A new client connection, already accepted, not yet reading.
    func listener(_ listener: TCPListener, didAccept stream: Stream)
    /// `accept` failed (EMFILE, ENFILE, ...); the listener pauses, then
    /// accepts again by itself.
    func listener(_ listener: TCPListener, didFailToAccept error: UVError)
}

/// A listening TCP socket that accepts by itself, on a libuv poll handle,
/// rather than through `uv_listen`.
///
/// Why: out of descriptors, libuv's listener closes a reserved descriptor,
/// accepts every waiting client with it and closes each at once (they see a
/// reset). This listener instead stops watching the socket for
/// `acceptRetryMilliseconds` and tries again: waiting clients stay in the
/// kernel's backlog and are served once descriptors are free, and the loop
/// does not spin on a socket that stays readable.
public final class TCPListener: TimerDelegate {
    /// The pause after `accept` fails for lack of descriptors or memory.
    public static let acceptRetryMilliseconds: UInt64 = 100
    /// At most this many accepts per wake-up, so a flood of connections does
    /// not starve the connections already open.
    private static let acceptsPerWakeup = 128

    private let loop: EventLoop
    private let socket: Int32
    private let poll: UnsafeMutablePointer<uv_poll_t>
    private let retryTimer: Timer
    /// Held strongly (a weak reference would move the delegate's reference
    /// counts to a side table and slow every retain and release of it, on the
    /// data path); `close()` clears it, which breaks the cycle.
    public var delegate: TCPListenerDelegate?
    public private(set) var isClosed = false

    public init(loop: EventLoop, address: SocketAddress, backlog: Int32 = 1024) throws(UVError) {
        self.loop = loop
        socket = try Self.listeningSocket(address: address, backlog: backlog)
        poll = .allocate(capacity: 1)
        let initialised = uv_poll_init_socket(loop.raw, poll, socket)
        if initialised < 0 {
            poll.deallocate()
            Glibc.close(socket)
            throw UVError(initialised)
        }
        retryTimer = Timer(loop: loop)
        // The open handle keeps this object alive until its close callback.
        poll.pointee.data = Unmanaged.passRetained(self).toOpaque()
        retryTimer.delegate = self
        watch()
    }

    /// socket, SO_REUSEADDR, bind and listen, as `uv_tcp_bind` + `uv_listen` do.
    private static func listeningSocket(address: SocketAddress, backlog: Int32) throws(UVError) -> Int32 {
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let fd = Glibc.socket(family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw UVError(-errno) }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        let length = socklen_t(address.isIPv6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        if address.withSockaddr({ Glibc.bind(fd, $0, length) }) != 0 || Glibc.listen(fd, backlog) != 0 {
            let error = UVError(-errno)
            Glibc.close(fd)
            throw error
        }
        return fd
    }

    /// The port actually bound (useful with port 0).
    public var boundPort: Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutableBytes(of: &storage) { raw in
            getsockname(socket, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
        }
        return SocketAddress.describe(storage)?.port ?? 0
    }

    private func watch() {
        uv_poll_start(poll, Int32(UV_READABLE.rawValue)) { poll, _, _ in
            guard let data = poll?.pointee.data else { return }
            Unmanaged<TCPListener>.fromOpaque(data).takeUnretainedValue().acceptWaitingClients()
        }
    }

    private func acceptWaitingClients() {
        for _ in 0..<Self.acceptsPerWakeup where !isClosed {
            let client = rp_accept_nonblocking(socket)
            if client < 0 {
                let code = errno
                switch code {
                case EAGAIN, EWOULDBLOCK:
                    return
                // The client gave up while waiting, or a network error that
                // belongs to that connection (accept(2)): take the next one.
                case EINTR, ECONNABORTED, EPROTO, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH:
                    continue
                default:  // EMFILE, ENFILE, ENOBUFS, ENOMEM...
                    pause()
                    delegate?.listener(self, didFailToAccept: UVError(-code))
                    return
                }
            }
            let stream = Stream(loop: loop, kind: .tcp, connected: true)
            let tcp = stream.rawStream.withMemoryRebound(to: uv_tcp_t.self, capacity: 1) { $0 }
            let opened = uv_tcp_open(tcp, client)
            if opened < 0 {
                Glibc.close(client)
                stream.close()
                delegate?.listener(self, didFailToAccept: UVError(opened))
                continue
            }
            // Small responses must not wait for Nagle's algorithm.
            uv_tcp_nodelay(tcp, 1)
            delegate?.listener(self, didAccept: stream)
        }
    }

    private func pause() {
        uv_poll_stop(poll)
        retryTimer.start(milliseconds: Self.acceptRetryMilliseconds)
    }

    public func timerDidFire(_ timer: Timer) {
        guard !isClosed else { return }
        watch()
    }

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        delegate = nil
        retryTimer.close()
        uv_close(rp_handle(poll)) { handle in
            guard let handle, let data = handle.pointee.data else { return }
            let listener = Unmanaged<TCPListener>.fromOpaque(data).takeRetainedValue()
            Glibc.close(listener.socket)
            handle.deallocate()
        }
    }
}

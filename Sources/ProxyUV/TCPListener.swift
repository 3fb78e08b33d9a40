internal import CLibUV

public protocol TCPListenerDelegate: AnyObject {
    /// A new client connection, already accepted, not yet reading.
    func listener(_ listener: TCPListener, didAccept stream: Stream)
    /// `accept` failed (EMFILE, ENFILE, ...); the listener keeps listening.
    func listener(_ listener: TCPListener, didFailToAccept error: UVError)
}

/// A listening TCP socket.
public final class TCPListener {
    private let loop: EventLoop
    private let handle: UnsafeMutablePointer<uv_tcp_t>
    public weak var delegate: TCPListenerDelegate?
    public private(set) var isClosed = false

    public init(loop: EventLoop, address: SocketAddress, backlog: Int32 = 1024) throws(UVError) {
        self.loop = loop
        handle = .allocate(capacity: 1)
        try UVError.check(uv_tcp_init(loop.raw, handle))
        handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
        do {
            try UVError.check(address.withSockaddr { uv_tcp_bind(handle, $0, 0) })
            try UVError.check(uv_listen(rp_stream(handle), backlog) { server, status in
                guard let server, let data = server.pointee.data else { return }
                Unmanaged<TCPListener>.fromOpaque(data).takeUnretainedValue().didReceiveConnection(status: status)
            })
        } catch {
            close()
            throw error
        }
    }

    /// The port actually bound (useful with port 0).
    public var boundPort: Int {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutableBytes(of: &storage) { raw in
            uv_tcp_getsockname(handle, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
        }
        return SocketAddress.describe(storage)?.port ?? 0
    }

    private func didReceiveConnection(status: Int32) {
        guard !isClosed else { return }
        if status < 0 {
            delegate?.listener(self, didFailToAccept: UVError(status))
            return
        }
        let stream = Stream(loop: loop, kind: .tcp, connected: true)
        let result = uv_accept(rp_stream(handle), stream.rawStream)
        if result < 0 {
            stream.close()
            delegate?.listener(self, didFailToAccept: UVError(result))
            return
        }
        // Small responses must not wait for Nagle's algorithm.
        uv_tcp_nodelay(stream.rawStream.withMemoryRebound(to: uv_tcp_t.self, capacity: 1) { $0 }, 1)
        delegate?.listener(self, didAccept: stream)
    }

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        delegate = nil
        uv_close(rp_handle(handle)) { handle in
            guard let handle, let data = handle.pointee.data else { return }
            Unmanaged<TCPListener>.fromOpaque(data).release()
            handle.deallocate()
        }
    }
}

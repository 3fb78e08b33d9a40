internal import CLibUV

public protocol StreamDelegate: AnyObject {
    /// Bytes read; valid only during the call.
    func streamDidRead(_ stream: Stream, _ bytes: RawSpan)
    /// The peer shut down its sending side.
    func streamDidReachEnd(_ stream: Stream)
    /// A read or write failed (ECONNRESET, EPIPE, ...). The stream is still open.
    func streamDidFail(_ stream: Stream, _ error: UVError)
    func streamDidConnect(_ stream: Stream)
    func streamDidFailToConnect(_ stream: Stream, _ error: UVError)
    /// Queued output fell to or below the low-water mark after `notifyWhenDrained()`.
    func streamDidDrain(_ stream: Stream)
}

/// A connected TCP or Unix-domain stream.
///
/// Writes are queued and leave in the loop's flush pass (see `EventLoop`):
/// first `uv_try_write`, and only the rest, if any, through `uv_write` from a
/// second buffer that is not touched while the kernel may read it. The owner
/// watches `queuedByteCount` to apply back-pressure.
public final class Stream {
    enum Kind { case tcp, pipe }

    fileprivate let loop: EventLoop
    fileprivate let handle: UnsafeMutableRawPointer
    private let kind: Kind
    /// Held strongly (a weak reference would move the delegate's reference
    /// counts to a side table and slow every retain and release of it, on the
    /// data path); `close()` clears it, which breaks the cycle.
    public var delegate: StreamDelegate?

    private var staged = ByteQueue()
    private var inFlight = ByteQueue()
    private var writeRequest: UnsafeMutablePointer<uv_write_t>?
    private var isFlushScheduled = false
    private var holdsStaged = false
    private var wantsDrainNotice = false
    private var shutdownRequested = false
    fileprivate private(set) var closeRequested = false
    public private(set) var isConnected: Bool
    public private(set) var isReading = false
    public private(set) var isClosed = false
    /// The low-water mark for `streamDidDrain`.
    public var lowWaterMark = 16 * 1024

    private static var handleSize: Int { max(MemoryLayout<uv_tcp_t>.size, MemoryLayout<uv_pipe_t>.size) }

    init(loop: EventLoop, kind: Kind, connected: Bool) {
        self.loop = loop
        self.kind = kind
        self.isConnected = connected
        handle = .allocate(byteCount: Self.handleSize, alignment: 16)
        switch kind {
        case .tcp: uv_tcp_init(loop.raw, handle.assumingMemoryBound(to: uv_tcp_t.self))
        case .pipe: uv_pipe_init(loop.raw, handle.assumingMemoryBound(to: uv_pipe_t.self), 0)
        }
        // The open handle owns this object until its close callback runs.
        rp_handle(handle).pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    var rawStream: UnsafeMutablePointer<uv_stream_t> { rp_stream(handle) }

    // MARK: Connecting

    /// Opens an outgoing TCP connection; the delegate hears the outcome (it
    /// may also be set after this returns: nothing is reported before the
    /// loop runs again).
    public static func connect(loop: EventLoop, to address: SocketAddress, delegate: StreamDelegate?) -> Stream {
        let stream = Stream(loop: loop, kind: .tcp, connected: false)
        stream.delegate = delegate
        let request = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)
        request.pointee.data = Unmanaged.passRetained(stream).toOpaque()
        let tcp = stream.handle.assumingMemoryBound(to: uv_tcp_t.self)
        uv_tcp_nodelay(tcp, 1)
        let result = address.withSockaddr { uv_tcp_connect(request, tcp, $0, Stream.connectCallback) }
        if result < 0 { PendingConnect(stream: stream, request: request, address: address, code: result).start() }
        return stream
    }

    /// Opens an outgoing Unix-domain stream connection.
    public static func connect(loop: EventLoop, toPath path: String, delegate: StreamDelegate?) -> Stream {
        let stream = Stream(loop: loop, kind: .pipe, connected: false)
        stream.delegate = delegate
        let request = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)
        request.pointee.data = Unmanaged.passRetained(stream).toOpaque()
        uv_pipe_connect(request, stream.handle.assumingMemoryBound(to: uv_pipe_t.self), path, Stream.connectCallback)
        return stream
    }

    fileprivate static let connectCallback: uv_connect_cb = { request, status in
        guard let request, let data = request.pointee.data else { return }
        let stream = Unmanaged<Stream>.fromOpaque(data).takeRetainedValue()
        request.deallocate()
        stream.didConnect(status: status)
    }

    fileprivate func didConnect(status: Int32) {
        guard !isClosed, !closeRequested else { return }
        if status < 0 {
            delegate?.streamDidFailToConnect(self, UVError(status))
            return
        }
        isConnected = true
        if kind == .tcp { uv_tcp_nodelay(handle.assumingMemoryBound(to: uv_tcp_t.self), 1) }
        delegate?.streamDidConnect(self)
        if !staged.isEmpty { scheduleFlush() }
    }

    // MARK: Reading

    public func startReading() {
        guard !isReading, !isClosed, isConnected else { return }
        isReading = true
        uv_read_start(rawStream, { handle, _, buffer in
            let loop = Unmanaged<EventLoop>.fromOpaque(handle!.pointee.loop.pointee.data).takeUnretainedValue()
            buffer!.pointee = uv_buf_init(loop.readBuffer.assumingMemoryBound(to: CChar.self), UInt32(loop.readSize))
        }, { stream, count, buffer in
            guard let stream, let data = stream.pointee.data else { return }
            let this = Unmanaged<Stream>.fromOpaque(data).takeUnretainedValue()
            this.didRead(count: count, base: buffer?.pointee.base)
        })
    }

    public func stopReading() {
        guard isReading else { return }
        isReading = false
        if !isClosed { uv_read_stop(rawStream) }
    }

    private func didRead(count: Int, base: UnsafeMutablePointer<CChar>?) {
        if count > 0, let base {
            let bytes = UnsafeRawBufferPointer(start: base, count: count)
            delegate?.streamDidRead(self, bytes.bytes)
        } else if count == Int(UV_EOF.rawValue) {
            stopReading()
            delegate?.streamDidReachEnd(self)
        } else if count < 0 {
            stopReading()
            delegate?.streamDidFail(self, UVError(Int32(count)))
        }
    }

    /// Acknowledges what was read at once (Linux TCP_QUICKACK) instead of
    /// delaying the ACK. For peers that write one message in several small
    /// segments without TCP_NODELAY: on a kept-alive connection Nagle's
    /// algorithm on their side holds each later segment until our delayed ACK
    /// comes, up to 40 ms.
    public func acknowledgeNow() {
        var fd: Int32 = -1
        guard kind == .tcp, uv_fileno(rp_handle(handle), &fd) == 0 else { return }
        var on: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_QUICKACK, &on, socklen_t(MemoryLayout<Int32>.size))
    }

    // MARK: Writing

    /// Bytes queued and not yet accepted by the kernel.
    public var queuedByteCount: Int { staged.count + inFlight.count }

    /// Writes at least this large go to the kernel at once, with what is
    /// staged before them in the same `writev`, instead of being copied into
    /// the queue first: a body relayed in 64 KiB reads mostly goes straight
    /// from the read buffer to the socket, and the queue keeps only what the
    /// kernel did not take. Smaller writes are staged and leave together
    /// once per loop turn.
    static let directWriteThreshold = 8 * 1024

    public func write(_ bytes: RawSpan) {
        guard !isClosed, !closeRequested else { return }
        holdsStaged = false
        bytes.withUnsafeBytes { raw in
            if raw.count >= Self.directWriteThreshold, isConnected, inFlight.isEmpty {
                writeNow(raw)
            } else {
                staged.append(raw)
            }
        }
        scheduleFlush()
    }

    /// Staged bytes and then `raw` in one `uv_try_write`; what is left is
    /// staged. Errors and progress are reported by the next flush, never
    /// from inside `write` (the caller is in the middle of its own work).
    private func writeNow(_ raw: UnsafeRawBufferPointer) {
        let stagedCount = staged.count
        let written = withUnsafeTemporaryAllocation(of: uv_buf_t.self, capacity: 2) { buffers -> Int in
            var count = 0
            if stagedCount > 0 {
                buffers[0] = uv_buf_init(UnsafeMutableRawPointer(mutating: staged.readable.baseAddress!).assumingMemoryBound(to: CChar.self),
                                         UInt32(stagedCount))
                count = 1
            }
            buffers[count] = uv_buf_init(UnsafeMutableRawPointer(mutating: raw.baseAddress!).assumingMemoryBound(to: CChar.self),
                                         UInt32(raw.count))
            return Int(uv_try_write(rawStream, buffers.baseAddress, UInt32(count + 1)))
        }
        let sent = max(written, 0)
        staged.consume(min(sent, stagedCount))
        let sentOfRaw = max(sent - stagedCount, 0)
        if sentOfRaw < raw.count { staged.append(UnsafeRawBufferPointer(rebasing: raw[sentOfRaw...])) }
    }

    public func write(_ bytes: [UInt8]) {
        guard !isClosed, !closeRequested else { return }
        holdsStaged = false
        bytes.withUnsafeBytes { staged.append($0) }
        scheduleFlush()
    }

    /// What is staged now waits for the next write and leaves with it, not
    /// in this loop turn's flush pass: a response head whose body is still
    /// due then leaves with the body's first bytes, in one system call that
    /// wakes the reader once (as nginx's `postpone_output` does). The next
    /// write, `shutdownAfterWrites` or `closeAfterWrites` ends the wait;
    /// `close` drops what waits, as it drops everything queued.
    public func holdStagedUntilNextWrite() { holdsStaged = !staged.isEmpty }

    private func releaseStaged() {
        guard holdsStaged else { return }
        holdsStaged = false
        scheduleFlush()
    }

    /// Calls `streamDidDrain` once queued output falls to the low-water mark.
    public func notifyWhenDrained() {
        wantsDrainNotice = true
        if queuedByteCount <= lowWaterMark { scheduleFlush() }
    }

    private func scheduleFlush() {
        guard !isFlushScheduled else { return }
        isFlushScheduled = true
        loop.scheduleFlush(self)
    }

    func flush() {
        isFlushScheduled = false
        guard !isClosed, isConnected, !holdsStaged else { return }
        if inFlight.isEmpty, !staged.isEmpty {
            var buffer = uv_buf_init(UnsafeMutableRawPointer(mutating: staged.readable.baseAddress!).assumingMemoryBound(to: CChar.self),
                                     UInt32(staged.count))
            let written = uv_try_write(rawStream, &buffer, 1)
            if written > 0 {
                staged.consume(Int(written))
            } else if written < 0, written != UV_EAGAIN.rawValue {
                staged.removeAll()
                delegate?.streamDidFail(self, UVError(written))
                return
            }
            if !staged.isEmpty { startQueuedWrite() }
        }
        afterProgress()
    }

    private func startQueuedWrite() {
        swap(&staged, &inFlight)
        let request = writeRequest ?? {
            let request = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)
            writeRequest = request
            return request
        }()
        request.pointee.data = Unmanaged.passRetained(self).toOpaque()
        var buffer = uv_buf_init(UnsafeMutableRawPointer(mutating: inFlight.readable.baseAddress!).assumingMemoryBound(to: CChar.self),
                                 UInt32(inFlight.count))
        let result = uv_write(request, rawStream, &buffer, 1) { request, status in
            guard let request, let data = request.pointee.data else { return }
            Unmanaged<Stream>.fromOpaque(data).takeRetainedValue().didFinishQueuedWrite(status: status)
        }
        if result < 0 {
            Unmanaged<Stream>.fromOpaque(request.pointee.data).release()
            inFlight.removeAll()
            delegate?.streamDidFail(self, UVError(result))
        }
    }

    private func didFinishQueuedWrite(status: Int32) {
        inFlight.removeAll()
        inFlight.shrinkIfEmpty(keeping: 64 * 1024)
        if isClosed { return }
        if status < 0 {
            staged.removeAll()
            delegate?.streamDidFail(self, UVError(status))
            return
        }
        if !staged.isEmpty { flush() } else { afterProgress() }
    }

    private func afterProgress() {
        if wantsDrainNotice, queuedByteCount <= lowWaterMark {
            wantsDrainNotice = false
            delegate?.streamDidDrain(self)
        }
        if queuedByteCount == 0 {
            staged.shrinkIfEmpty(keeping: 64 * 1024)
            if shutdownRequested { performShutdown() }
            if closeRequested { close() }
        }
    }

    // MARK: Closing

    /// Sends FIN once everything queued is written; reading goes on.
    public func shutdownAfterWrites() {
        guard !shutdownRequested, !isClosed else { return }
        releaseStaged()
        shutdownRequested = true
        if queuedByteCount == 0 { performShutdown() }
    }

    private func performShutdown() {
        shutdownRequested = false
        guard isConnected, !isClosed else { return }
        let request = UnsafeMutablePointer<uv_shutdown_t>.allocate(capacity: 1)
        if uv_shutdown(request, rawStream, { request, _ in request?.deallocate() }) < 0 {
            request.deallocate()
        }
    }

    /// Closes once everything queued is written (or writing fails).
    public func closeAfterWrites() {
        guard !isClosed else { return }
        releaseStaged()
        if queuedByteCount == 0 || !isConnected { close() } else { closeRequested = true }
    }

    /// Closes now; queued bytes are dropped and no delegate call follows.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        isReading = false
        delegate = nil
        staged.deallocate()
        uv_close(rp_handle(handle)) { handle in
            guard let handle, let data = handle.pointee.data else { return }
            let stream = Unmanaged<Stream>.fromOpaque(data).takeRetainedValue()
            stream.releaseMemory()
        }
    }

    private func releaseMemory() {
        inFlight.deallocate()
        writeRequest?.deallocate()
        handle.deallocate()
    }

    // MARK: Addresses

    /// The peer's address (`nil` for Unix-domain streams).
    public func peerAddress() -> (host: String, port: Int)? {
        guard kind == .tcp else { return nil }
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutableBytes(of: &storage) { raw in
            uv_tcp_getpeername(handle.assumingMemoryBound(to: uv_tcp_t.self),
                               raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
        }
        return result == 0 ? SocketAddress.describe(storage) : nil
    }
}

/// A TCP connect that could not start (`uv_tcp_connect` failed at once).
/// Reported on the next loop turn, as libuv reports other failures, so
/// callers see one path; but when the process is out of descriptors or
/// buffers, tried again every `retryMilliseconds` until it starts, fails
/// otherwise, or the stream is closed (the caller's connect timeout bounds
/// the wait). A request that arrives while descriptors run out then waits
/// for one instead of failing.
private final class PendingConnect: TimerDelegate {
    static let retryMilliseconds: UInt64 = 50

    let stream: Stream
    let request: UnsafeMutablePointer<uv_connect_t>
    let address: SocketAddress
    var code: Int32
    let timer: Timer

    init(stream: Stream, request: UnsafeMutablePointer<uv_connect_t>, address: SocketAddress, code: Int32) {
        self.stream = stream
        self.request = request
        self.address = address
        self.code = code
        timer = Timer(loop: stream.loop)
    }

    private static func isExhaustion(_ code: Int32) -> Bool {
        code == -EMFILE || code == -ENFILE || code == -ENOBUFS || code == -ENOMEM
    }

    /// The timer holds this object (its delegate) until `finish` closes it.
    func start() {
        timer.delegate = self
        timer.start(milliseconds: Self.isExhaustion(code) ? Self.retryMilliseconds : 0)
    }

    func timerDidFire(_ timer: Timer) {
        if Self.isExhaustion(code) && !stream.isClosed && !stream.closeRequested {
            let tcp = stream.handle.assumingMemoryBound(to: uv_tcp_t.self)
            code = address.withSockaddr { uv_tcp_connect(request, tcp, $0, Stream.connectCallback) }
            if code == 0 { return finish(releasingRequest: false) }  // the connect callback takes over
            if Self.isExhaustion(code) { return timer.start(milliseconds: Self.retryMilliseconds) }
        }
        finish(releasingRequest: true)
        stream.didConnect(status: code)
    }

    private func finish(releasingRequest: Bool) {
        if releasingRequest {
            Unmanaged<Stream>.fromOpaque(request.pointee.data).release()
            request.deallocate()
        }
        timer.close()
    }
}

internal import CLibUV
#if canImport(Glibc)
private import Glibc
#endif

/// The one libuv loop of the process. Every handle belongs to it, and every
/// callback runs on the thread that calls `run()`.
///
/// Two things are shared by all streams of the loop: one read buffer (data is
/// handled synchronously inside the read callback, so one buffer serves every
/// connection), and the flush pass, a check handle that runs after each poll
/// phase and writes out everything the callbacks of that iteration queued, so
/// a response head and its body leave in one system call. A prepare handle
/// runs the same pass before the loop blocks in poll, for writes queued by
/// timer callbacks.
public final class EventLoop {
    let raw: UnsafeMutablePointer<uv_loop_t>
    let readBuffer: UnsafeMutableRawPointer
    let readBufferSize: Int
    /// How much of the read buffer the next read is offered.
    private(set) var readSize: Int
    /// While true, reads are offered 16 KiB at a time instead of the whole
    /// buffer. At low load a large body's first piece then leaves early and
    /// the next hop starts on it while the rest is read (lower latency than
    /// whole reads); under load, whole-buffer reads need fewer system calls
    /// and less CPU per request. The server sets it by the number of
    /// exchanges in flight, and clears it once a response's first piece is
    /// read. The measurements: docs/architecture.md ("The data path", Read).
    public var readsInSmallPieces = false {
        didSet { readSize = readsInSmallPieces ? min(Self.smallReadSize, readBufferSize) : readBufferSize }
    }
    static let smallReadSize = 16 * 1024
    /// Counts the loop's turns (one per poll), so that a caller can tell
    /// whether two events came in the same turn.
    private(set) var turn: UInt64 = 0
    private let flushCheck: UnsafeMutablePointer<uv_check_t>
    private let flushPrepare: UnsafeMutablePointer<uv_prepare_t>
    private var streamsToFlush: [Stream] = []
    private var spareFlushList: [Stream] = []

    public init(readBufferSize: Int = 128 * 1024) throws(UVError) {
        // A peer that closes while we write must yield EPIPE, not kill the process.
        signal(SIGPIPE, SIG_IGN)
        raw = uv_default_loop()
        self.readBufferSize = readBufferSize
        readSize = readBufferSize
        readBuffer = UnsafeMutableRawPointer.allocate(byteCount: readBufferSize, alignment: 16)
        flushCheck = .allocate(capacity: 1)
        flushPrepare = .allocate(capacity: 1)
        let this = Unmanaged.passUnretained(self).toOpaque()
        raw.pointee.data = this
        // After the poll phase: what the I/O callbacks of this turn queued.
        try UVError.check(uv_check_init(raw, flushCheck))
        flushCheck.pointee.data = this
        try UVError.check(uv_check_start(flushCheck) { check in
            guard let data = check?.pointee.data else { return }
            let loop = Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue()
            loop.flushPendingStreams()
            loop.turn &+= 1
        })
        // Before the poll phase: what timer callbacks queued must leave before
        // the loop blocks in poll.
        try UVError.check(uv_prepare_init(raw, flushPrepare))
        flushPrepare.pointee.data = this
        try UVError.check(uv_prepare_start(flushPrepare) { prepare in
            guard let data = prepare?.pointee.data else { return }
            Unmanaged<EventLoop>.fromOpaque(data).takeUnretainedValue().flushPendingStreams()
        })
        // The flush passes alone must not keep the loop running.
        uv_unref(rp_handle(flushCheck))
        uv_unref(rp_handle(flushPrepare))
        streamsToFlush.reserveCapacity(256)
        spareFlushList.reserveCapacity(256)
    }

    /// The libuv version linked in (`1.44.2`).
    public static var libuvVersion: String { String(cString: uv_version_string()) }

    /// Monotonic milliseconds, cached by libuv at the start of each iteration.
    public var nowMilliseconds: UInt64 { uv_now(raw) }

    /// Monotonic nanoseconds, read now (for durations in logs and metrics).
    public var nowNanoseconds: UInt64 { uv_hrtime() }

    /// Runs until `stop()` or until no handle is left.
    public func run() { uv_run(raw, UV_RUN_DEFAULT) }

    public func stop() { uv_stop(raw) }

    func scheduleFlush(_ stream: Stream) { streamsToFlush.append(stream) }

    /// Writes what is queued now, as far as the kernel takes it (before exiting).
    public func flushNow() { flushPendingStreams() }

    private func flushPendingStreams() {
        while !streamsToFlush.isEmpty {
            swap(&streamsToFlush, &spareFlushList)
            for stream in spareFlushList { stream.flush() }
            spareFlushList.removeAll(keepingCapacity: true)
        }
    }
}

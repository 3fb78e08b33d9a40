#if canImport(Glibc)
internal import Glibc
#endif
internal import CLibUV

/// Where access-log lines go (stdout by default), written so that a slow or
/// stalled reader never stalls the event loop.
///
/// When the descriptor is a pipe (a container runtime collecting logs), it is
/// reopened through /proc/self/fd as a new open file description, made
/// non-blocking, and written through libuv with a bounded queue; a line that
/// would pass the bound is dropped and counted. Reopening matters: making the
/// inherited descriptor non-blocking would change it for the wrapped runtime
/// too, which shares it. Files, terminals and /dev/null are written directly:
/// they do not stall.
///
/// On a pipe, lines of a loop turn that logged one line only are written at
/// most once every `batchMilliseconds`: a line that comes when nothing was
/// written for that long leaves at the end of its turn; lines that follow
/// within the interval wait and leave together when it ends (or as soon as
/// `batchBytes` wait). A turn that logs two lines or more writes everything
/// waiting at its end: that is load, the write carries many lines, and
/// measured at 256 connections holding those lines back cost throughput.
/// One write per request at one connection would wake the pipe's reader once
/// per request, on a CPU the proxy shares with it: that cost CPU and showed
/// in the latency tail (docs/logging.md). `batchMilliseconds` 0: the lines of
/// each turn leave at its end. `flush()` writes what waits (before exiting).
public final class LogOutput: StreamDelegate, TimerDelegate {
    private let fd: Int32
    private var stream: Stream?
    private var readerGone = false
    private let queueLimit: Int
    public private(set) var linesDropped = 0
    /// Why lines are written with blocking writes, if they are (for a start-up log line).
    public let blockingReason: String?
    private let batchMilliseconds: UInt64
    private let batchBytes: Int
    /// Lines gathered for the next write to the pipe, and how many.
    private var batch: [UInt8] = []
    private var batchLines = 0
    /// Lines handed to the pipe's stream since it last had nothing queued:
    /// lost, and counted as dropped, if the reader goes away.
    private var linesNotSurelyWritten = 0
    private var batchTimer: Timer?
    private let loop: EventLoop
    /// When the last batch was handed to the pipe (loop milliseconds).
    private var lastBatchAt: UInt64?
    /// The loop turn of the last line written.
    private var turnOfLastLine: UInt64?

    public init(loop: EventLoop, fd: Int32 = 1, queueLimit: Int = 1 << 20,
                batchMilliseconds: UInt64 = 10, batchBytes: Int = 32 * 1024) {
        self.loop = loop
        self.fd = fd
        self.queueLimit = queueLimit
        self.batchMilliseconds = batchMilliseconds
        self.batchBytes = batchBytes
        var status = stat()
        if fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFIFO {
            let reopened = open("/proc/self/fd/\(fd)", O_WRONLY | O_CLOEXEC | O_NONBLOCK)
            if reopened >= 0 {
                let stream = Stream(loop: loop, kind: .pipe, connected: true)
                if uv_pipe_open(stream.rawStream.withMemoryRebound(to: uv_pipe_t.self, capacity: 1) { $0 }, reopened) == 0 {
                    self.stream = stream
                    blockingReason = nil
                    stream.delegate = self
                    batch.reserveCapacity(batchBytes + 4096)
                    let timer = Timer(loop: loop)
                    batchTimer = timer
                    timer.delegate = self
                    return
                }
                stream.close()
                Glibc.close(reopened)
            }
            stream = nil
            blockingReason = "stdout is a pipe but /proc/self/fd could not reopen it"
        } else {
            stream = nil
            blockingReason = nil
        }
    }

    /// Writes one whole line, or drops it (counted) if the reader is behind.
    public func write(_ line: [UInt8]) {
        if readerGone {
            linesDropped += 1
            return
        }
        if let stream {
            guard !stream.isClosed, stream.queuedByteCount + batch.count + line.count <= queueLimit else {
                linesDropped += 1
                return
            }
            batch.append(contentsOf: line)
            batchLines += 1
            let now = loop.nowMilliseconds
            let due = lastBatchAt.map { $0 &+ batchMilliseconds } ?? now
            let busyTurn = turnOfLastLine == loop.turn
            turnOfLastLine = loop.turn
            if busyTurn || batch.count >= batchBytes || now >= due {
                flush()
            } else if let batchTimer, !batchTimer.isArmed {
                batchTimer.start(milliseconds: due - now)
            }
            return
        }
        let written = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if written != line.count { linesDropped += 1 }
    }

    /// Hands the gathered lines to the pipe (written at the end of this loop turn, or by `EventLoop.flushNow`).
    public func flush() {
        batchTimer?.stop()
        guard let stream, batchLines > 0 else { return }
        if stream.queuedByteCount == 0 { linesNotSurelyWritten = 0 }
        stream.write(batch)
        lastBatchAt = loop.nowMilliseconds
        linesNotSurelyWritten += batchLines
        batch.removeAll(keepingCapacity: true)
        batchLines = 0
    }

    public func timerDidFire(_ timer: Timer) { flush() }

    // MARK: The pipe's reader closed it: drop (and count) from now on.

    public func streamDidFail(_ stream: Stream, _ error: UVError) {
        readerGone = true
        linesDropped += linesNotSurelyWritten + batchLines
        linesNotSurelyWritten = 0
        batch.removeAll()
        batchLines = 0
        batchTimer?.close()
        batchTimer = nil
        stream.close()
        self.stream = nil
    }

    public func streamDidRead(_ stream: Stream, _ bytes: RawSpan) {}
    public func streamDidReachEnd(_ stream: Stream) {}
    public func streamDidConnect(_ stream: Stream) {}
    public func streamDidFailToConnect(_ stream: Stream, _ error: UVError) {}
    public func streamDidDrain(_ stream: Stream) {}
}

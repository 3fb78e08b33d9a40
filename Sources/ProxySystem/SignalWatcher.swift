internal import CLibUV

public protocol SignalWatcherDelegate: AnyObject {
    func signalWatcher(_ watcher: SignalWatcher, didReceive signal: Signal)
}

/// Delivers a POSIX signal on the loop thread, as an ordinary callback.
public final class SignalWatcher {
    private let handle: UnsafeMutablePointer<uv_signal_t>
    /// Held strongly (a weak reference would move the delegate's reference
    /// counts to a side table and slow every retain and release of it, on the
    /// data path); `close()` clears it, which breaks the cycle.
    public var delegate: SignalWatcherDelegate?
    public let signal: Signal

    public init(loop: EventLoop, signal: Signal) throws(UVError) {
        self.signal = signal
        // A parent may have started us with the signal blocked (threads of
        // test runners and some init systems do); a watched signal must arrive.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, signal.rawValue)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        handle = .allocate(capacity: 1)
        try UVError.check(uv_signal_init(loop.raw, handle))
        handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
        try UVError.check(uv_signal_start(handle, { handle, signum in
            guard let data = handle?.pointee.data else { return }
            let watcher = Unmanaged<SignalWatcher>.fromOpaque(data).takeUnretainedValue()
            watcher.delegate?.signalWatcher(watcher, didReceive: Signal(rawValue: signum))
        }, signal.rawValue))
        // Watching a signal alone must not keep the process alive.
        uv_unref(rp_handle(handle))
    }

    public func close() {
        delegate = nil
        guard uv_is_closing(rp_handle(handle)) == 0 else { return }
        uv_close(rp_handle(handle)) { handle in
            guard let handle, let data = handle.pointee.data else { return }
            Unmanaged<SignalWatcher>.fromOpaque(data).release()
            handle.deallocate()
        }
    }
}

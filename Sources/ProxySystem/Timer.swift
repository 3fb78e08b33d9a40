internal import CLibUV

public protocol TimerDelegate: AnyObject {
    func timerDidFire(_ timer: Timer)
}

/// A one-shot libuv timer. The owner calls `close()` when done with it.
public final class Timer {
    private let handle: UnsafeMutablePointer<uv_timer_t>
    /// Held strongly (a weak reference would move the delegate's reference
    /// counts to a side table and slow every retain and release of it, on the
    /// data path); `close()` clears it, which breaks the cycle.
    public var delegate: TimerDelegate?
    public private(set) var isArmed = false

    public init(loop: EventLoop) {
        handle = .allocate(capacity: 1)
        uv_timer_init(loop.raw, handle)
        // The handle keeps this object alive until its close callback.
        handle.pointee.data = Unmanaged.passRetained(self).toOpaque()
    }

    /// Fires once after `milliseconds`, replacing any earlier arming.
    public func start(milliseconds: UInt64) {
        isArmed = true
        uv_timer_start(handle, { handle in
            guard let data = handle?.pointee.data else { return }
            let timer = Unmanaged<Timer>.fromOpaque(data).takeUnretainedValue()
            timer.isArmed = false
            timer.delegate?.timerDidFire(timer)
        }, milliseconds, 0)
    }

    public func stop() {
        isArmed = false
        uv_timer_stop(handle)
    }

    /// A timer that does not keep the loop running on its own.
    public func unreference() { uv_unref(rp_handle(handle)) }

    public func close() {
        delegate = nil
        guard uv_is_closing(rp_handle(handle)) == 0 else { return }
        uv_close(rp_handle(handle)) { handle in
            guard let handle, let data = handle.pointee.data else { return }
            Unmanaged<Timer>.fromOpaque(data).release()
            handle.deallocate()
        }
    }
}

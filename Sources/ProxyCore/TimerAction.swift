import ProxySystem

/// A timer's delegate that runs one action: an object with several timers
/// gives each its own, instead of asking which timer fired.
final class TimerAction: TimerDelegate {
    private let action: () -> Void

    /// Capture the owner `unowned`: the timer holds this object strongly.
    init(_ action: @escaping () -> Void) { self.action = action }

    func timerDidFire(_ timer: Timer) { action() }
}

#if canImport(Glibc)
internal import Glibc
#endif

/// A POSIX signal, named for what it means rather than spelled as its
/// number (the numbers are the C library's, and differ between systems).
public struct Signal: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// SIGTERM: stop, gracefully (Kubernetes' first word at shutdown).
    public static let terminate = Signal(rawValue: SIGTERM)
    /// SIGINT: Ctrl-C in a terminal.
    public static let interrupt = Signal(rawValue: SIGINT)
    /// SIGHUP
    public static let hangup = Signal(rawValue: SIGHUP)
    /// SIGCHLD: a child process exited.
    public static let child = Signal(rawValue: SIGCHLD)
    /// SIGKILL: cannot be caught or ignored.
    public static let kill = Signal(rawValue: SIGKILL)
    /// SIGQUIT
    public static let quit = Signal(rawValue: SIGQUIT)
    /// SIGUSR1
    public static let user1 = Signal(rawValue: SIGUSR1)
    /// SIGUSR2
    public static let user2 = Signal(rawValue: SIGUSR2)
    /// SIGWINCH: a terminal's size changed.
    public static let windowChange = Signal(rawValue: SIGWINCH)

    /// `SIGTERM`, `SIGCHLD`, ...: what a log line shows; `signal N` for
    /// one without a name here.
    public var name: String {
        switch rawValue {
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        case SIGHUP: "SIGHUP"
        case SIGCHLD: "SIGCHLD"
        case SIGKILL: "SIGKILL"
        case SIGQUIT: "SIGQUIT"
        case SIGUSR1: "SIGUSR1"
        case SIGUSR2: "SIGUSR2"
        case SIGWINCH: "SIGWINCH"
        default: "signal \(rawValue)"
        }
    }

    public var description: String { name }
}

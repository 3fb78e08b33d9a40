#if canImport(Glibc)
internal import Glibc
#endif
internal import CLibUV

/// glibc's POSIX_SPAWN_SETSID (0x80), hidden from Swift behind _GNU_SOURCE.
private let spawnSetSID: Int32 = 0x80

/// How a child process ended.
public enum ProcessExit: Equatable, Sendable, CustomStringConvertible {
    case exited(code: Int32)
    case signaled(signal: Int32)

    /// The exit status a shell would report: the code, or 128 + the signal.
    public var shellStatus: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): "exited with status \(code)"
        case .signaled(let signal): "killed by signal \(signal)"
        }
    }
}

/// Starting, signalling and reaping child processes.
///
/// The proxy is the only owner of `waitpid`: it does not use libuv's process
/// handles, so nothing else reaps. On SIGCHLD, `reapExited` collects every
/// exited child, the runtime and orphans re-parented to the proxy alike, and
/// the supervisor picks out the runtime by its pid.
public enum ChildProcesses {
    /// Makes this process the reaper of orphaned descendants (Linux
    /// PR_SET_CHILD_SUBREAPER), so a runtime's grandchildren do not become
    /// zombies when the proxy is not PID 1.
    @discardableResult
    public static func becomeSubreaper() -> Bool {
        rp_become_child_subreaper() == 0
    }

    /// Starts `arguments` (the first is looked up in PATH) with this
    /// process's environment, stdin from /dev/null, stdout and stderr shared,
    /// in a new session and so its own process group; signal mask cleared and
    /// every signal's disposition reset (the proxy ignores SIGPIPE; the
    /// runtime must not inherit that). `environment`: variables set for the
    /// child over this process's own (each replaces one of the same name).
    /// Returns the pid.
    public static func spawn(_ arguments: [String], environment: [(name: String, value: String)] = []) throws(UVError) -> Int32 {
        precondition(!arguments.isEmpty, "a command needs at least a program name")
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(spawnSetSID | Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF)))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if access("/dev/null", R_OK) == 0 {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        } else {
            posix_spawn_file_actions_addclose(&actions, 0)
        }

        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        defer { for pointer in argv { free(pointer) } }
        let envp = childEnvironment(environment)
        defer { for pointer in envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, argv[0]!, &actions, &attributes, argv, envp)
        if result != 0 { throw UVError(-result) }
        return pid
    }

    /// This process's environment with `overrides` set, as a NULL-ended
    /// array of strdup'ed `NAME=value` strings.
    private static func childEnvironment(_ overrides: [(name: String, value: String)]) -> [UnsafeMutablePointer<CChar>?] {
        var entries: [UnsafeMutablePointer<CChar>?] = []
        var pointer = environ
        while let entry = pointer.pointee {
            let replaced = overrides.contains { override in
                let name = override.name.utf8CString
                // `entry` starts with "NAME=": the name's bytes, then '='.
                return strncmp(entry, override.name, name.count - 1) == 0 && entry[name.count - 1] == CChar(UInt8(ascii: "="))
            }
            if !replaced { entries.append(strdup(entry)) }
            pointer += 1
        }
        for (name, value) in overrides { entries.append(strdup("\(name)=\(value)")) }
        entries.append(nil)
        return entries
    }

    /// Sends `signal` to the process group led by `pid` (the runtime and
    /// everything it started); false if no such group exists.
    @discardableResult
    public static func signalGroup(_ pid: Int32, _ signal: Signal) -> Bool {
        kill(-pid, signal.rawValue) == 0
    }

    /// Collects every exited child without blocking.
    public static func reapExited(_ body: (Int32, ProcessExit) -> Void) {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid < 0 && errno == EINTR { continue }
            guard pid > 0 else { return }
            // WIFEXITED / WEXITSTATUS / WTERMSIG, spelled out (they are macros).
            let signal = status & 0x7F
            body(pid, signal == 0 ? .exited(code: (status >> 8) & 0xFF) : .signaled(signal: signal))
        }
    }
}

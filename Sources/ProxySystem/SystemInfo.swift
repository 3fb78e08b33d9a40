#if canImport(Glibc)
internal import Glibc
#endif

/// Small reads of process facts for metrics: files under /proc, the
/// descriptor limit, the clock. Each returns nil where the fact is not
/// available (no /proc in an empty chroot, for example).
public enum SystemInfo {
    /// The whole content of a small file (at most `limit` bytes).
    public static func readFile(_ path: String, limit: Int = 64 * 1024) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var content = [UInt8](repeating: 0, count: limit)
        var total = 0
        while total < limit {
            let count = content.withUnsafeMutableBytes { read(fd, $0.baseAddress! + total, limit - total) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            total += count
        }
        content.removeSubrange(total...)
        return content
    }

    /// The names of the entries in a directory that are whole numbers (the
    /// processes under /proc), as numbers; nil if it cannot be read.
    public static func numericEntries(in path: String) -> [Int32]? {
        guard let directory = opendir(path) else { return nil }
        defer { closedir(directory) }
        var numbers: [Int32] = []
        while let entry = readdir(directory) {
            let number: Int32? = withUnsafeBytes(of: entry.pointee.d_name) { name in
                var value: Int32 = 0
                var index = 0
                while index < name.count, name[index] != 0 {
                    let digit = name[index]
                    guard digit >= 0x30 && digit <= 0x39, value < Int32.max / 10 else { return nil }
                    value = value * 10 + Int32(digit - 0x30)
                    index += 1
                }
                return index > 0 ? value : nil
            }
            if let number { numbers.append(number) }
        }
        return numbers
    }

    /// Entries in a directory, `.` and `..` excepted.
    public static func countEntries(in path: String) -> Int? {
        guard let directory = opendir(path) else { return nil }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { name in
                name[0] == UInt8(ascii: ".") && (name[1] == 0 || (name[1] == UInt8(ascii: ".") && name[2] == 0))
            }
            if !isDot { count += 1 }
        }
        return count
    }

    /// The soft limit on open descriptors.
    public static var openFileLimit: Int? {
        var limit = rlimit()
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return nil }
        return limit.rlim_cur >= rlim_t(Int.max) ? nil : Int(limit.rlim_cur)
    }

    /// Seconds since the Unix epoch, with a fraction.
    public static var wallClockSeconds: Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// Writes one message to stderr, whole, blocking: for rare lifecycle lines only.
    public static func writeToStandardError(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            offset += written
        }
    }

    /// A moment broken down into calendar fields, in UTC or local time.
    public struct CalendarTime: Sendable, Equatable {
        public var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int
    }

    /// Whole seconds since the Unix epoch (the wall clock).
    public static var wallClockWholeSeconds: Int { Int(time(nil)) }

    /// `seconds` since the epoch as calendar fields (gmtime_r / localtime_r).
    public static func calendarTime(seconds: Int, utc: Bool) -> CalendarTime {
        var value = time_t(seconds)
        var parts = tm()
        if utc { gmtime_r(&value, &parts) } else { localtime_r(&value, &parts) }
        return CalendarTime(year: Int(parts.tm_year) + 1900, month: Int(parts.tm_mon) + 1, day: Int(parts.tm_mday),
                            hour: Int(parts.tm_hour), minute: Int(parts.tm_min), second: Int(parts.tm_sec))
    }

    /// Ends the process now with `status` (exit(3): stdio flushed, no unwinding).
    public static func exitProcess(status: Int32) -> Never { exit(status) }

    /// Clock ticks per second for /proc/PID/stat times, and the page size.
    public static var clockTicksPerSecond: Int { Int(sysconf(Int32(_SC_CLK_TCK))) }
    public static var pageSize: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }
}

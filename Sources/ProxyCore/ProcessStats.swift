import ProxySystem

/// The standard `process_*` metrics that Prometheus' Go client exported, read
/// from /proc/self at scrape time. Without /proc (an empty chroot) only the
/// start time and descriptor limit remain, and the proxy says so once at start.
struct ProcessStats: Equatable {
    var cpuSeconds: Double?
    var residentBytes: Int?
    var virtualBytes: Int?
    var openDescriptors: Int?
    var maxDescriptors: Int?
    var startTimeSeconds: Double

    static func read(startTimeSeconds: Double) -> ProcessStats {
        var stats = ProcessStats(startTimeSeconds: startTimeSeconds)
        if let stat = SystemInfo.readFile("/proc/self/stat") {
            stats.apply(stat: stat, ticksPerSecond: SystemInfo.clockTicksPerSecond, pageSize: SystemInfo.pageSize)
        }
        stats.openDescriptors = SystemInfo.countEntries(in: "/proc/self/fd").map { $0 - 1 }  // minus the listing's own
        stats.maxDescriptors = SystemInfo.openFileLimit
        return stats
    }

    /// Parses /proc/self/stat (proc(5)): fields after the parenthesised
    /// command name, which may itself hold spaces and parentheses.
    mutating func apply(stat: [UInt8], ticksPerSecond: Int, pageSize: Int) {
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        // fields[0] is field 3 (state): utime is field 14, stime 15, vsize 23, rss 24.
        func number(_ field: Int) -> Int? {
            let index = field - 3
            guard index < fields.count else { return nil }
            return Int(String(decoding: fields[index], as: UTF8.self))
        }
        if let user = number(14), let system = number(15), ticksPerSecond > 0 {
            cpuSeconds = Double(user + system) / Double(ticksPerSecond)
        }
        virtualBytes = number(23)
        residentBytes = number(24).map { $0 * pageSize }
    }
}

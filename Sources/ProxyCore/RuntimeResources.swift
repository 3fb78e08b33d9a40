import ProxySystem

/// What the runtime's process tree (the runtime and every descendant) and
/// the container use, read from /proc and the cgroup when /metrics is
/// scraped: nothing is read otherwise. Each figure is nil where the system
/// does not show it (no /proc, no cgroup memory controller).
struct RuntimeResources: Equatable {
    var residentBytes: Int?
    var cpuSeconds: Double?
    var processCount: Int?
    var openDescriptors: Int?

    /// One process's line of /proc/PID/stat, as far as the tree needs it.
    struct Process: Equatable {
        var pid: Int32
        var parent: Int32
        var cpuTicks: Int
        var residentPages: Int
    }

    /// Reads the tree under `root`.
    static func read(root: Int32) -> RuntimeResources {
        var resources = RuntimeResources()
        if let pids = SystemInfo.numericEntries(in: "/proc") {
            let processes = pids.compactMap { pid in SystemInfo.readFile("/proc/\(pid)/stat").flatMap(parseStat) }
            let tree = descendants(of: root, in: processes)
            if !tree.isEmpty {
                let ticks = SystemInfo.clockTicksPerSecond, page = SystemInfo.pageSize
                resources.processCount = tree.count
                resources.residentBytes = tree.reduce(0) { $0 + $1.residentPages } * page
                if ticks > 0 { resources.cpuSeconds = Double(tree.reduce(0) { $0 + $1.cpuTicks }) / Double(ticks) }
                // Another user's descriptors cannot be listed: counted where they can.
                resources.openDescriptors = tree.compactMap { SystemInfo.countEntries(in: "/proc/\($0.pid)/fd") }.reduce(0, +)
            }
        }
        return resources
    }

    /// `root` and everything below it, from each process's parent.
    static func descendants(of root: Int32, in processes: [Process]) -> [Process] {
        var children: [Int32: [Process]] = [:]
        var found: [Process] = []
        for process in processes {
            if process.pid == root { found.append(process) } else { children[process.parent, default: []].append(process) }
        }
        guard !found.isEmpty else { return [] }
        var index = 0
        while index < found.count {
            found += children[found[index].pid] ?? []
            index += 1
        }
        return found
    }

    /// proc(5): `pid (comm) state ppid ... utime stime ... rss`; the command
    /// name may hold spaces and parentheses, so fields count from the last ")".
    static func parseStat(_ stat: [UInt8]) -> Process? {
        guard let open = stat.firstIndex(of: UInt8(ascii: "(")), let close = stat.lastIndex(of: UInt8(ascii: ")")),
              let pid = Int32(String(decoding: stat[..<open].filter { $0 != 0x20 }, as: UTF8.self)) else { return nil }
        let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
        func number(_ field: Int) -> Int? {  // field numbers as proc(5) gives them; fields[0] is field 3
            let index = field - 3
            return index < fields.count ? Int(String(decoding: fields[index], as: UTF8.self)) : nil
        }
        guard let parent = number(4), let user = number(14), let system = number(15), let rss = number(24) else { return nil }
        return Process(pid: pid, parent: Int32(parent), cpuTicks: user + system, residentPages: rss)
    }
}

/// The container's memory as its cgroup shows it: v2 (`memory.max`,
/// `memory.current`, `memory.events`' `oom_kill`), else v1
/// (`memory.limit_in_bytes`, `memory.usage_in_bytes`, `memory.oom_control`).
struct CgroupMemory: Equatable {
    var limitBytes: Int?
    var usageBytes: Int?
    /// How many processes the kernel's OOM killer ended in this cgroup.
    var oomKills: Int?
    /// The highest usage seen (v2 `memory.peak`, v1 `memory.max_usage_in_bytes`).
    var peakBytes: Int?

    static func read(root: String = "/sys/fs/cgroup") -> CgroupMemory {
        func text(_ name: String) -> String? { SystemInfo.readFile("\(root)/\(name)").map { String(decoding: $0, as: UTF8.self) } }
        if let max = text("memory.max") {
            return CgroupMemory(limitBytes: limit(max), usageBytes: text("memory.current").flatMap(number),
                                oomKills: text("memory.events").flatMap { field("oom_kill", in: $0) },
                                peakBytes: text("memory.peak").flatMap(number))
        }
        if let max = text("memory/memory.limit_in_bytes") {
            return CgroupMemory(limitBytes: limit(max), usageBytes: text("memory/memory.usage_in_bytes").flatMap(number),
                                oomKills: text("memory/memory.oom_control").flatMap { field("oom_kill", in: $0) },
                                peakBytes: text("memory/memory.max_usage_in_bytes").flatMap(number))
        }
        return CgroupMemory()
    }

    /// A limit: "max" (v2) or v1's "no limit" (a huge number) is none.
    static func limit(_ text: String) -> Int? {
        guard let value = number(text), value < 1 << 60 else { return nil }
        return value
    }

    static func number(_ text: String) -> Int? { Int(text.trimmingCharacters(in: " \n")) }

    /// The runtime's end was the OOM killer's: SIGKILL, with the cgroup's
    /// `oom_kill` count risen since `before` (read when it started).
    static func killedByOOM(_ exit: ProcessExit, before: CgroupMemory, after: CgroupMemory) -> Bool {
        guard exit == .signaled(signal: Signal.kill.rawValue), let was = before.oomKills, let now = after.oomKills else { return false }
        return now > was
    }

    /// The value of `name` in a flat-keyed file (`oom_kill 3`).
    static func field(_ name: String, in text: String) -> Int? {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == name { return Int(parts[1]) }
        }
        return nil
    }
}

private extension String {
    func trimmingCharacters(in set: String) -> String {
        var text = Substring(self)
        while let first = text.first, set.contains(first) { text.removeFirst() }
        while let last = text.last, set.contains(last) { text.removeLast() }
        return String(text)
    }
}

import Testing
@testable import ProxyCore

/// Parsing /proc/self/stat (proc(5)) into the process_* numbers: fields are
/// counted after the last `)`, since the command name may hold spaces and
/// parentheses.
@Suite struct ProcessStatsTests {
    /// A stat line with the given command name; utime 250, stime 50,
    /// cutime 7, cstime 8, vsize 104857600, rss 2560 pages.
    static func statLine(command: String) -> [UInt8] {
        Array(("1234 (\(command)) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 7 8 20 0 3 0 5000 104857600 2560 "
            + "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0 0 0 0 0 0 0 0 0\n").utf8)
    }

    static let expected = ProcessStats(cpuSeconds: 3, residentBytes: 2560 * 4096, virtualBytes: 104_857_600,
                                       openDescriptors: nil, maxDescriptors: nil, startTimeSeconds: 5)

    // A command name with spaces and nested parentheses: utime+stime over ticks, vsize as is, rss times the page size.
    @Test(arguments: ["my (weird) proc", "runtime-proxy", "a b c", "((", "))", ") S 9 9 9 9 9 9 9 9 9 9 999 999"])
    func parsesAfterCommandName(command: String) {
        var stats = ProcessStats(startTimeSeconds: 5)
        stats.apply(stat: Self.statLine(command: command), ticksPerSecond: 100, pageSize: 4096)
        #expect(stats == Self.expected)
    }

    // CPU seconds use the given clock tick rate and exclude children's cutime/cstime.
    @Test func cpuSecondsUseTickRate() {
        var stats = ProcessStats(startTimeSeconds: 0)
        stats.apply(stat: Self.statLine(command: "x"), ticksPerSecond: 1000, pageSize: 16384)
        #expect(stats.cpuSeconds == 0.3)
        #expect(stats.residentBytes == 2560 * 16384)
    }

    // A zero tick rate leaves CPU time unknown rather than dividing by zero.
    @Test func zeroTickRateLeavesCPUUnknown() {
        var stats = ProcessStats(startTimeSeconds: 0)
        stats.apply(stat: Self.statLine(command: "x"), ticksPerSecond: 0, pageSize: 4096)
        #expect(stats.cpuSeconds == nil)
        #expect(stats.virtualBytes == 104_857_600)
    }

    // A line without a closing parenthesis changes nothing.
    @Test func noCommandNameChangesNothing() {
        var stats = ProcessStats(cpuSeconds: 9, residentBytes: 9, virtualBytes: 9, openDescriptors: 1, maxDescriptors: 2, startTimeSeconds: 3)
        let before = stats
        stats.apply(stat: Array("1234 (truncated S 1 2 3".utf8), ticksPerSecond: 100, pageSize: 4096)
        #expect(stats == before)
    }

    // A line cut short before utime leaves every parsed number unknown.
    @Test func shortLineLeavesNumbersUnknown() {
        var stats = ProcessStats(startTimeSeconds: 0)
        stats.apply(stat: Array("1234 (x) S 1 1234 1234 0 -1".utf8), ticksPerSecond: 100, pageSize: 4096)
        #expect(stats == ProcessStats(startTimeSeconds: 0))
    }

    // An empty stat gives nothing.
    @Test func emptyStat() {
        var stats = ProcessStats(startTimeSeconds: 1)
        stats.apply(stat: [], ticksPerSecond: 100, pageSize: 4096)
        #expect(stats == ProcessStats(startTimeSeconds: 1))
    }

    // Reading the test process's own /proc gives every number, plausibly sized, and keeps the start time given.
    @Test func readsOwnProcess() throws {
        let stats = ProcessStats.read(startTimeSeconds: 123.5)
        #expect(stats.startTimeSeconds == 123.5)
        let cpu = try #require(stats.cpuSeconds)
        #expect(cpu >= 0)
        let rss = try #require(stats.residentBytes)
        let vsize = try #require(stats.virtualBytes)
        #expect(rss > 0)
        #expect(vsize >= rss)
        let open = try #require(stats.openDescriptors)
        let max = try #require(stats.maxDescriptors)
        #expect(open >= 3)
        #expect(max >= open)
    }
}

import Foundation
import ProxySystem
import Testing

@testable import ProxyCore

@Suite struct RuntimeResourcesTests {
    // A /proc/PID/stat line: pid, parent, CPU ticks and resident pages, with a command name holding spaces and parentheses.
    @Test func parsesAStatLine() {
        let line = Array("4242 (gunicorn: (worker) x) S 4200 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 2 0 555 1000000 321 18446744073709551615".utf8)
        #expect(RuntimeResources.parseStat(line) == .init(pid: 4242, parent: 4200, cpuTicks: 10, residentPages: 321))
        #expect(RuntimeResources.parseStat(Array("garbage".utf8)) == nil)
    }

    // The tree is the root and every descendant, whatever the order of the listing; strangers and the root's parent are left out.
    @Test func treeIsTheRootAndItsDescendants() {
        let processes: [RuntimeResources.Process] = [
            .init(pid: 30, parent: 20, cpuTicks: 1, residentPages: 1), .init(pid: 1, parent: 0, cpuTicks: 9, residentPages: 9),
            .init(pid: 10, parent: 1, cpuTicks: 2, residentPages: 2), .init(pid: 20, parent: 10, cpuTicks: 3, residentPages: 3),
            .init(pid: 40, parent: 1, cpuTicks: 4, residentPages: 4),
        ]
        #expect(Set(RuntimeResources.descendants(of: 10, in: processes).map(\.pid)) == [10, 20, 30])
        #expect(RuntimeResources.descendants(of: 99, in: processes).isEmpty)
    }

    // Reading our own process as the root finds at least it, with memory and CPU (this machine has /proc).
    @Test func readsALiveTree() {
        let resources = RuntimeResources.read(root: ProcessInfo.processInfo.processIdentifier)
        #expect((resources.processCount ?? 0) >= 1)
        #expect((resources.residentBytes ?? 0) > 0)
        #expect(resources.cpuSeconds != nil)
    }

    // Cgroup files: "max" is no limit, v1's huge number too; flat-keyed fields are found by name.
    @Test func cgroupValues() {
        #expect(CgroupMemory.limit("max\n") == nil)
        #expect(CgroupMemory.limit("9223372036854771712\n") == nil)
        #expect(CgroupMemory.limit("268435456\n") == 268_435_456)
        #expect(CgroupMemory.field("oom_kill", in: "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n") == 1)
        #expect(CgroupMemory.field("oom_kill", in: "oom 1\n") == nil)
    }

    // A SIGKILL is the OOM killer's only when the cgroup's count rose; other exits, or no count, are not.
    @Test func oomKillIsRecognised() {
        let before = CgroupMemory(oomKills: 2), after = CgroupMemory(oomKills: 3)
        #expect(CgroupMemory.killedByOOM(.signaled(signal: Signal.kill.rawValue), before: before, after: after))
        #expect(!CgroupMemory.killedByOOM(.signaled(signal: Signal.kill.rawValue), before: after, after: after))
        #expect(!CgroupMemory.killedByOOM(.signaled(signal: Signal.terminate.rawValue), before: before, after: after))
        #expect(!CgroupMemory.killedByOOM(.exited(code: 137), before: before, after: after))
        #expect(!CgroupMemory.killedByOOM(.signaled(signal: Signal.kill.rawValue), before: CgroupMemory(), after: after))
    }
}

import Foundation

/// Reads a process's memory figures from /proc/PID/status.
enum ProcessMemory {
    /// Peak resident set size (VmHWM) in bytes.
    static func peakResidentBytes(pid: Int32) -> Int? { field("VmHWM", pid: pid) }

    /// Current resident set size (VmRSS) in bytes.
    static func residentBytes(pid: Int32) -> Int? { field("VmRSS", pid: pid) }

    private static func field(_ name: String, pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let kilobytes = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
            return kilobytes.map { $0 * 1024 }
        }
        return nil
    }
}

/// Runs a shell pipeline (for streaming large bodies through curl) and
/// returns its exit status and stdout.
func shell(_ command: String) throws -> (status: Int32, output: String) {
    let result = try runToCompletion("/bin/bash", ["-c", command])
    return (result.status, String(decoding: result.output, as: UTF8.self))
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Helpers that start real processes (the proxy binary, upstream servers,
/// curl) and talk to them over real loopback sockets.
enum Harness {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let fixtures = packageRoot.appendingPathComponent("Tests/EndToEndTests/Fixtures")

    /// The proxy binary built next to this test bundle (or `RUNTIME_PROXY_BIN`).
    static var proxyBinary: String {
        if let path = ProcessInfo.processInfo.environment["RUNTIME_PROXY_BIN"] { return path }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = executable.deletingLastPathComponent()
        // The test runner lives inside an .xctest bundle on some layouts.
        for _ in 0..<3 where !FileManager.default.fileExists(atPath: directory.appendingPathComponent("runtime-proxy").path) {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("runtime-proxy").path
    }

    /// Debian's Python, which has python3-websockets (not a pyenv shim).
    static let python = FileManager.default.fileExists(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "python3"
}

/// A child process whose output lines are collected as they arrive.
final class TestProcess: @unchecked Sendable {
    let process: ChildProcess
    private let output = OutputLines()

    init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        let piped = try PipedChild(executable, arguments,
                                   environment: environment.map { ProcessInfo.processInfo.environment.merging($0) { $1 } })
        process = piped.process
        output.collect(piped.stdout, stream: .stdout)
        output.collect(piped.stderr, stream: .stderr)
    }

    var stdout: [String] { output.lines(.stdout) }
    var stderr: [String] { output.lines(.stderr) }

    /// Waits until a line of stdout (or stderr) satisfies `match`; `nil` on
    /// timeout, or once the stream has ended without one.
    func waitForLine(onStderr: Bool = false, timeout: TimeInterval = 20, _ match: (String) -> Bool) -> String? {
        output.waitForLines(onStderr ? .stderr : .stdout, count: 1, timeout: timeout, exitTime: { self.process.exitTime }, match).first
    }

    /// Waits for stdout to hold at least `count` lines satisfying `match`.
    func waitForLines(count: Int, timeout: TimeInterval = 20, _ match: (String) -> Bool) -> [String] {
        output.waitForLines(.stdout, count: count, timeout: timeout, exitTime: { self.process.exitTime }, match)
    }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for exit, up to `timeout`; returns the status or nil.
    func waitForExit(timeout: TimeInterval = 20) -> Int32? {
        process.waitForExit(timeout: timeout) ? process.terminationStatus : nil
    }

    /// Stops the process: SIGTERM, then SIGKILL after 5 s.
    func stop() {
        if process.isRunning {
            process.terminate()
            if waitForExit(timeout: 5) == nil { kill(process.processIdentifier, SIGKILL); _ = waitForExit(timeout: 5) }
        }
    }

    deinit { stop() }
}

/// The lines a child writes to its stdout and stderr, read on a thread per
/// stream (which holds only this, so dropping the TestProcess stops it).
final class OutputLines: @unchecked Sendable {
    enum Stream { case stdout, stderr }
    private let lock = NSCondition()
    private var received: [Stream: [String]] = [.stdout: [], .stderr: []]
    private var partial: [Stream: [UInt8]] = [:]
    private var ended: Set<Stream> = []

    /// Reads `fd` to its end on a thread of its own, then closes it.
    func collect(_ fd: Int32, stream: Stream) {
        Thread { [self] in
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                lock.lock()
                defer { lock.broadcast(); lock.unlock() }
                guard count > 0 else { ended.insert(stream); break }
                var buffer = (partial[stream] ?? []) + chunk[0..<count]
                while let newline = buffer.firstIndex(of: 0x0A) {
                    received[stream, default: []].append(String(decoding: buffer[..<newline], as: UTF8.self))
                    buffer.removeSubrange(...newline)
                }
                partial[stream] = buffer
            }
            close(fd)
        }.start()
    }

    func lines(_ stream: Stream) -> [String] { lock.lock(); defer { lock.unlock() }; return received[stream] ?? [] }

    /// The lines of `stream` satisfying `match`, once there are `count` of
    /// them, or fewer: on timeout, once the stream has ended, or 2 s after the
    /// process exited (a child of its own may hold the stream open).
    func waitForLines(_ stream: Stream, count: Int, timeout: TimeInterval, exitTime: () -> Date?,
                      _ match: (String) -> Bool) -> [String] {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock()
        defer { lock.unlock() }
        while true {
            let found = (received[stream] ?? []).filter(match)
            if found.count >= count || ended.contains(stream) || Date() > deadline { return found }
            if let exited = exitTime(), Date() > exited.addingTimeInterval(2) { return found }
            _ = lock.wait(until: min(deadline, Date().addingTimeInterval(0.2)))
        }
    }
}

/// The proxy under test, started on a kernel-chosen port.
final class ProxyUnderTest: @unchecked Sendable {
    let process: TestProcess
    let port: Int

    init(upstream: String, arguments: [String] = [], environment: [String: String]? = nil) throws {
        process = try TestProcess(Harness.proxyBinary,
                                  ["--port", "0", "--listen-address", "127.0.0.1", "--upstream", upstream, "--drain-delay", "0"] + arguments,
                                  environment: environment)
        guard let line = process.waitForLine(onStderr: true, { $0.contains("listening on") }),
              let portText = line.split(separator: ",").first?.split(separator: ":").last,
              let port = Int(portText) else {
            throw HarnessError.notReady("proxy: \(process.stderr.joined(separator: "\n"))")
        }
        self.port = port
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Access log lines written so far.
    var logLines: [String] { process.stdout }
}

/// A Python upstream from Fixtures/, which prints `READY <port>`.
final class PythonUpstream: @unchecked Sendable {
    let process: TestProcess
    let port: Int

    init(_ script: String, _ arguments: [String] = []) throws {
        process = try TestProcess(Harness.python, [Harness.fixtures.appendingPathComponent(script).path] + arguments)
        guard let line = process.waitForLine({ $0.hasPrefix("READY ") }), let port = Int(line.dropFirst(6)) else {
            throw HarnessError.notReady("\(script): \(process.stderr.joined(separator: "\n"))")
        }
        self.port = port
    }

    var address: String { "127.0.0.1:\(port)" }

    /// Test servers need no grace.
    deinit { process.signal(SIGKILL) }
}

enum HarnessError: Error { case notReady(String), io(String) }

/// Runs curl and returns its exit status, stdout and stderr.
@discardableResult
func curl(_ arguments: [String], input: Data? = nil) throws -> (status: Int32, output: String, error: String) {
    let result = try runToCompletion("/usr/bin/curl", ["-sS", "--max-time", "60"] + arguments, input: input)
    return (result.status, String(decoding: result.output, as: UTF8.self), String(decoding: result.error, as: UTF8.self))
}

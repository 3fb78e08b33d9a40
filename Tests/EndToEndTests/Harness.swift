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
    let process = Process()
    private let lock = NSCondition()
    private var stdoutLines: [String] = []
    private var stderrLines: [String] = []
    private var partial: [Int: Data] = [:]

    init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
        process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
        if let environment {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        collect(out.fileHandleForReading, stream: 1)
        collect(err.fileHandleForReading, stream: 2)
        try process.run()
    }

    private func collect(_ handle: FileHandle, stream: Int) {
        handle.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self else { return }
            self.lock.lock()
            defer { self.lock.broadcast(); self.lock.unlock() }
            if data.isEmpty { handle.readabilityHandler = nil; return }
            var buffer = (self.partial[stream] ?? Data()) + data
            while let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                if stream == 1 { self.stdoutLines.append(line) } else { self.stderrLines.append(line) }
                buffer = Data(buffer[buffer.index(after: newline)...])
            }
            self.partial[stream] = buffer
        }
    }

    var stdout: [String] { lock.lock(); defer { lock.unlock() }; return stdoutLines }
    var stderr: [String] { lock.lock(); defer { lock.unlock() }; return stderrLines }

    /// Waits until a line of stdout (or stderr) satisfies `match`; `nil` on timeout or exit.
    func waitForLine(onStderr: Bool = false, timeout: TimeInterval = 20, _ match: (String) -> Bool) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock()
        defer { lock.unlock() }
        while true {
            let lines = onStderr ? stderrLines : stdoutLines
            if let line = lines.first(where: match) { return line }
            if !process.isRunning || Date() > deadline { return nil }
            _ = lock.wait(until: min(deadline, Date().addingTimeInterval(0.2)))
        }
    }

    /// Waits for stdout to hold at least `count` lines satisfying `match`.
    func waitForLines(count: Int, timeout: TimeInterval = 20, _ match: (String) -> Bool) -> [String] {
        let deadline = Date().addingTimeInterval(timeout)
        lock.lock()
        defer { lock.unlock() }
        while true {
            let found = stdoutLines.filter(match)
            if found.count >= count || Date() > deadline { return found }
            _ = lock.wait(until: min(deadline, Date().addingTimeInterval(0.2)))
        }
    }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for exit, up to `timeout`; returns the status or nil.
    func waitForExit(timeout: TimeInterval = 20) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        return process.isRunning ? nil : process.terminationStatus
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

    /// Test servers need no grace: threads of the test runner may have
    /// SIGTERM blocked, and a child inherits that mask.
    deinit { process.signal(SIGKILL) }
}

enum HarnessError: Error { case notReady(String), io(String) }

/// Runs curl and returns its exit status, stdout and stderr.
@discardableResult
func curl(_ arguments: [String], input: Data? = nil) throws -> (status: Int32, output: String, error: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    process.arguments = ["-sS", "--max-time", "60"] + arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    if let input {
        let inPipe = Pipe()
        process.standardInput = inPipe
        try process.run()
        inPipe.fileHandleForWriting.write(input)
        try inPipe.fileHandleForWriting.close()
    } else {
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }
    let output = out.fileHandleForReading.readDataToEndOfFile()
    let error = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self), String(decoding: error, as: UTF8.self))
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, for the end-to-end tests.
///
/// Not Foundation's `Process`: on Linux it closes in the child only the
/// descriptors open when it looked, so a socket another test thread opens
/// meanwhile is inherited and outlives its test; and it copies whole
/// `/proc/self/fd` entry names past their end, which crashed the test runner
/// once (a read into an unmapped page). Here the child closes everything
/// above 2 before exec (`closefrom`), every descriptor the tests open is
/// close-on-exec as well, and the child starts with no signal blocked (test
/// runner threads may block some) and SIGPIPE at its default.
/// Like `Process`, each child leads a process group of its own.
final class ChildProcess: @unchecked Sendable {
    let processIdentifier: pid_t
    private let exit = NSCondition()
    private var waitStatus: Int32?
    private var exitedAt: Date?

    /// The child gets `standardInput`, `standardOutput` and `standardError`
    /// as descriptors 0, 1 and 2; the caller closes its own copies.
    init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
         standardInput: Int32, standardOutput: Int32, standardError: Int32) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, standardInput, 0)
        posix_spawn_file_actions_adddup2(&actions, standardOutput, 1)
        posix_spawn_file_actions_adddup2(&actions, standardError, 2)
        _ = SystemCalls.addCloseFrom(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        let environment = environment ?? ProcessInfo.processInfo.environment
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        let result = posix_spawnp(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { throw HarnessError.io("spawn \(executable): \(String(cString: strerror(result)))") }
        processIdentifier = pid
        Thread { [exit, pid] in
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            exit.lock()
            self.waitStatus = status
            self.exitedAt = Date()
            exit.broadcast()
            exit.unlock()
        }.start()
    }

    var isRunning: Bool { exit.lock(); defer { exit.unlock() }; return waitStatus == nil }

    /// When the child was seen to exit, if it has.
    var exitTime: Date? { exit.lock(); defer { exit.unlock() }; return exitedAt }

    /// Its exit code, or the number of the signal that ended it (as `Process` has it).
    var terminationStatus: Int32 {
        exit.lock()
        defer { exit.unlock() }
        guard let status = waitStatus else { preconditionFailure("\(processIdentifier) is still running") }
        return status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f
    }

    /// Waits for the exit, up to `timeout`; true if it came.
    @discardableResult
    func waitForExit(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        exit.lock()
        defer { exit.unlock() }
        while waitStatus == nil && exit.wait(until: deadline) {}
        return waitStatus != nil
    }

    func waitUntilExit() {
        exit.lock()
        defer { exit.unlock() }
        while waitStatus == nil { exit.wait() }
    }

    func terminate() { kill(processIdentifier, SIGTERM) }
}

/// A child whose stdout and stderr are pipes to this process, and its stdin
/// a pipe too when `withInput` (/dev/null otherwise): this process keeps the
/// read ends of the first two and the write end of the third.
struct PipedChild {
    let process: ChildProcess
    let stdout: Int32
    let stderr: Int32
    let stdin: Int32?

    init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, withInput: Bool = false) throws {
        let output = try PipeEnds(), errors = try PipeEnds(), input = withInput ? try PipeEnds() : nil
        let null = try SystemCalls.openNull()
        do {
            defer { close(null); close(output.write); close(errors.write); input.map { _ = close($0.read) } }
            process = try ChildProcess(executable, arguments, environment: environment, standardInput: input?.read ?? null,
                                       standardOutput: output.write, standardError: errors.write)
        } catch {
            close(output.read)
            close(errors.read)
            input.map { _ = close($0.write) }
            throw error
        }
        (stdout, stderr, stdin) = (output.read, errors.read, input?.write)
    }
}

/// The two ends of a pipe, both close-on-exec in this process.
struct PipeEnds {
    let read: Int32
    let write: Int32

    init() throws {
        var ends: [Int32] = [-1, -1]
        guard SystemCalls.pipe2(&ends, O_CLOEXEC) == 0 else { throw HarnessError.io("pipe2: \(errno)") }
        (read, write) = (ends[0], ends[1])
    }
}

/// glibc functions Swift's Glibc module leaves out (they need _GNU_SOURCE).
enum SystemCalls {
    private typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32

    nonisolated(unsafe) static let pipe2: (UnsafeMutablePointer<Int32>, Int32) -> Int32 = unsafeBitCast(dlsym(nil, "pipe2"), to: Pipe2.self)
    nonisolated(unsafe) static let addCloseFrom: (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32 =
        unsafeBitCast(dlsym(nil, "posix_spawn_file_actions_addclosefrom_np"), to: AddCloseFrom.self)

    /// /dev/null, opened close-on-exec.
    static func openNull() throws -> Int32 {
        let fd = open("/dev/null", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw HarnessError.io("open /dev/null: \(errno)") }
        return fd
    }

    /// Everything `fd` yields until its end; then closes it.
    static func readAll(_ fd: Int32) -> Data {
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            data.append(contentsOf: chunk[0..<count])
        }
        close(fd)
        return data
    }
}

/// Runs a program to its end with `input` on its stdin (or /dev/null) and
/// returns its exit status, stdout and stderr. `killAfter`: SIGKILL then,
/// should it still run.
func runToCompletion(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                     input: Data? = nil, killAfter: TimeInterval? = nil) throws -> (status: Int32, output: Data, error: Data) {
    let piped = try PipedChild(executable, arguments, environment: environment, withInput: input != nil)
    let child = piped.process
    let watchdog = killAfter.map { seconds in
        let item = DispatchWorkItem { kill(child.processIdentifier, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: item)
        return item
    }
    let errorText = ThreadResult { SystemCalls.readAll(piped.stderr) }
    if let stdin = piped.stdin, let input {
        Thread {
            // EPIPE rather than a SIGPIPE that would end the test runner.
            var pipeSignal = sigset_t()
            sigemptyset(&pipeSignal)
            sigaddset(&pipeSignal, SIGPIPE)
            pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
            var offset = 0
            while offset < input.count {
                let written = input[offset...].withUnsafeBytes { Glibc.write(stdin, $0.baseAddress, $0.count) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { break }
                offset += written
            }
            close(stdin)
        }.start()
    }
    let outputData = SystemCalls.readAll(piped.stdout)
    let errorData = errorText.value
    child.waitUntilExit()
    watchdog?.cancel()
    return (child.terminationStatus, outputData, errorData)
}

/// A value computed on a thread of its own.
final class ThreadResult<Value>: @unchecked Sendable {
    private let done = NSCondition()
    private var result: Value?

    init(_ body: @escaping @Sendable () -> Value) {
        Thread { [done] in
            let value = body()
            done.lock()
            self.result = value
            done.broadcast()
            done.unlock()
        }.start()
    }

    var value: Value {
        done.lock()
        defer { done.unlock() }
        while result == nil { done.wait() }
        return result!
    }
}

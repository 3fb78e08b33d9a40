import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The command line and environment of the binary, run directly: help, bad
/// values (status 64, one line, nothing bound), and flags over environment.
@Suite struct ConfigurationTests {
    // --help exits 0 and documents the Kubeless variables and the defaults.
    @Test func helpListsVariablesAndDefaults() throws {
        let result = try runToExit(["--help"])
        #expect(result.status == 0)
        for text in ["FUNC_PORT", "FUNC_TIMEOUT", "8080", "180", "127.0.0.1:8090"] {
            #expect(result.stdout.contains(text), "help lacks \(text)")
        }
    }

    // Each bad value exits 64 before binding (an occupied port would give 71), and the error names the value.
    @Test(arguments: badValues)
    func badValueExits64BeforeBinding(_ bad: BadValue) throws {
        let occupied = try OccupiedPort()
        let result = try runToExit(bad.commandLine(port: occupied.port), environment: bad.environment)
        #expect(result.status == 64, "stderr: \(result.stderr)")
        #expect(!result.stderr.joined().contains("listening on"))
        #expect(result.stderr.first?.contains(bad.named) == true, "stderr: \(result.stderr)")
    }

    // A bad value's reason is the only line on stderr (no usage text after it).
    @Test func badValueReasonIsOneLine() throws {
        for bad in badValues {
            let result = try runToExit(bad.commandLine(port: 0), environment: bad.environment)
            #expect(result.status == 64)
            #expect(result.stderr.count == 1, "\(bad.testDescription): \(result.stderr)")
        }
    }

    // A port already in use exits 71 (what the bad-value test relies on to show nothing was bound).
    @Test func occupiedPortExits71() throws {
        let occupied = try OccupiedPort()
        let result = try runToExit(["--port", "\(occupied.port)", "--listen-address", "127.0.0.1", "--upstream", "127.0.0.1:9"])
        #expect(result.status == 71)
        #expect(result.stderr.first?.contains("cannot listen on 127.0.0.1:\(occupied.port)") == true)
    }

    // A flag wins over a bad environment value: FUNC_PORT=abc with --port 0, FUNC_TIMEOUT=xyz with --timeout 1, both start.
    @Test func flagWinsOverEnvironment() throws {
        let started = try StartedProxy(["--port", "0", "--timeout", "1"], environment: ["FUNC_PORT": "abc", "FUNC_TIMEOUT": "xyz"])
        #expect(started.port > 0)
        // Nothing listens upstream: the proxy itself answers that the runtime is not healthy.
        #expect(try curl(["http://127.0.0.1:\(started.port)/healthz"]).output.hasPrefix("runtime not healthy"))
    }

    // FUNC_PORT=0 without --port starts on a kernel-chosen port and says so on stderr.
    @Test func funcPortFromEnvironment() throws {
        let started = try StartedProxy([], environment: ["FUNC_PORT": "0"])
        #expect(started.line.hasPrefix("runtime-proxy: listening on 127.0.0.1:\(started.port), forwarding to 127.0.0.1:9"))
        #expect(try curl(["http://127.0.0.1:\(started.port)/healthz"]).output.hasPrefix("runtime not healthy"))
    }

    // PORT (Knative, Cloud Run) is the port when FUNC_PORT is not set: PORT=0 starts on a kernel-chosen port, not 8080.
    @Test func portFromKnativeEnvironment() throws {
        let started = try StartedProxy([], environment: ["PORT": "0"])
        #expect(started.port != 8080)
        #expect(started.line.hasPrefix("runtime-proxy: listening on 127.0.0.1:\(started.port), forwarding"))
    }

    // FUNC_PORT wins over PORT: with FUNC_PORT=0 a bad PORT is not even read; a bad PORT alone exits 64 naming it.
    @Test func funcPortWinsOverPort() throws {
        let started = try StartedProxy([], environment: ["FUNC_PORT": "0", "PORT": "abc"])
        #expect(started.port > 0)
        let result = try runToExit(["--listen-address", "127.0.0.1", "--upstream", "127.0.0.1:9"], environment: ["PORT": "abc"])
        #expect(result.status == 64)
        #expect(result.stderr.first?.contains("PORT='abc'") == true, "stderr: \(result.stderr)")
    }

    // FUNC_TIMEOUT=1 in the environment gives the Kubeless 408 "Timeout exceeded" on a silent upstream.
    @Test func funcTimeoutFromEnvironment() throws {
        let upstream = try PythonUpstream("raw_upstream.py", ["silent"])
        let started = try StartedProxy(["--port", "0", "--upstream", upstream.address], environment: ["FUNC_TIMEOUT": "1"])
        let client = try RawClient(port: started.port, receiveTimeout: 10)
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 408)
        #expect(response.bodyText == "Timeout exceeded\n")
    }
}

/// A bad configuration: flags, environment, and the text its error must name.
struct BadValue: Sendable, CustomTestStringConvertible {
    let testDescription: String
    let arguments: [String]
    let environment: [String: String]
    let named: String

    /// Its flags on 127.0.0.1, with `--port port` unless the port is what is bad.
    func commandLine(port: Int) -> [String] {
        let setsPort = arguments.contains("--port") || environment["FUNC_PORT"] != nil
        return (setsPort ? [] : ["--port", "\(port)"]) + ["--listen-address", "127.0.0.1"] + arguments
    }

    init(_ arguments: [String], environment: [String: String] = [:], naming named: String) {
        testDescription = (environment.map { "\($0)=\($1)" } + arguments).joined(separator: " ")
        self.arguments = arguments
        self.environment = environment
        self.named = named
    }
}

private let badValues = [
    BadValue(["--port", "70000"], naming: "70000"),
    BadValue(["--port", "abc"], naming: "abc"),
    BadValue([], environment: ["FUNC_PORT": "abc"], naming: "FUNC_PORT"),
    BadValue(["--upstream", "example.com:80"], naming: "example.com:80"),
    BadValue(["--upstream", "127.0.0.1"], naming: "'127.0.0.1'"),
    BadValue(["--timeout", "0"], naming: "--timeout"),
    BadValue(["--timeout", "-5"], naming: "--timeout"),
    BadValue([], environment: ["FUNC_TIMEOUT": "xyz"], naming: "FUNC_TIMEOUT"),
    BadValue(["--log-format", "fancy"], naming: "fancy"),
    BadValue(["--log-flush-interval", "soon"], naming: "--log-flush-interval"),
    BadValue(["--failure-statuses", "6xx"], naming: "6xx"),
    BadValue([], environment: ["PROXY_FAILURE_STATUSES": "500;502"], naming: "500;502"),
]

/// Every variable the binary reads, emptied (empty counts as unset), so the
/// test runner's own environment cannot change an outcome; then `extra`.
private func proxyEnvironment(_ extra: [String: String]) -> [String: String] {
    let names = ["FUNC_PORT", "FUNC_TIMEOUT", "PROXY_LISTEN_ADDRESS", "PROXY_UPSTREAM", "PROXY_HEADER_TIMEOUT",
                 "PROXY_CLIENT_IDLE_TIMEOUT", "PROXY_CONNECT_TIMEOUT", "PROXY_UPSTREAM_IDLE_TIMEOUT", "PROXY_TUNNEL_IDLE_TIMEOUT",
                 "PROXY_MAX_IDLE_UPSTREAM", "PROXY_HEALTH_PATH", "PROXY_METRICS_PATH", "PROXY_LOG_FORMAT",
                 "PROXY_FAILURE_STATUSES", "PORT"]
    return Dictionary(uniqueKeysWithValues: names.map { ($0, "") }).merging(extra) { $1 }
}

/// Runs the binary to its exit (killed after 15 s, should it wrongly start
/// serving) and returns its status, stdout and stderr lines.
private func runToExit(_ arguments: [String], environment: [String: String] = [:]) throws
    -> (status: Int32, stdout: String, stderr: [String]) {
    let result = try runToCompletion(Harness.proxyBinary, arguments,
                                     environment: ProcessInfo.processInfo.environment.merging(proxyEnvironment(environment)) { $1 },
                                     killAfter: 15)
    let stderr = String(decoding: result.error, as: UTF8.self).split(separator: "\n").map(String.init)
    return (result.status, String(decoding: result.output, as: UTF8.self), stderr)
}

/// The binary started with `arguments` (plus 127.0.0.1 and a dead upstream
/// unless given), once it has printed its listening line.
private final class StartedProxy {
    let process: TestProcess
    let line: String
    let port: Int

    init(_ arguments: [String], environment: [String: String]) throws {
        var all = ["--listen-address", "127.0.0.1"] + arguments
        if !arguments.contains("--upstream") { all += ["--upstream", "127.0.0.1:9"] }
        process = try TestProcess(Harness.proxyBinary, all, environment: proxyEnvironment(environment))
        guard let line = process.waitForLine(onStderr: true, { $0.contains("listening on") }),
              let portText = line.split(separator: ",").first?.split(separator: ":").last, let port = Int(portText) else {
            throw HarnessError.notReady("proxy: \(process.stderr.joined(separator: "\n"))")
        }
        (self.line, self.port) = (line, port)
    }
}

/// A loopback port held by a listening socket for the life of this value.
private final class OccupiedPort {
    let fd: Int32
    let port: Int

    init() throws {
        let (socketFD, port) = try FreePort.boundSocket()
        // Closed before the properties are set (see RawClient.init).
        guard listen(socketFD, 1) == 0 else {
            let error = errno
            close(socketFD)
            throw HarnessError.io("listen: \(error)")
        }
        (fd, self.port) = (socketFD, port)
    }

    deinit { close(fd) }
}

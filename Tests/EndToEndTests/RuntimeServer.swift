import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A Kubeless runtime from runtimes/<language>/ (ruby, php, node or python) serving
/// one function on a free loopback port, ready once its /healthz answers 200.
final class RuntimeServer: @unchecked Sendable {
    static let runtimes = Harness.packageRoot.appendingPathComponent("runtimes")
    /// Functions written for the tests (Fixtures/kubeless/by_path.*).
    static let testFunctions = Harness.fixtures.appendingPathComponent("kubeless")

    let process: TestProcess
    let port: Int
    var address: String { "127.0.0.1:\(port)" }

    /// Serves `handler` of `module` from `directory` (default: the runtime's examples/).
    init(_ language: String, module: String, handler: String, directory: URL? = nil,
         environment: [String: String] = [:]) throws {
        let folder = Self.runtimes.appendingPathComponent(language)
        let command: [String]
        switch language {
        case "ruby": command = ["ruby", folder.appendingPathComponent("kubeless.rb").path]
        case "php": command = ["php", folder.appendingPathComponent("kubeless.php").path]
        case "node": command = ["node", folder.appendingPathComponent("kubeless.js").path]
        // Debian's gunicorn and Bottle are installed for Debian's python3.
        case "python": command = ["/usr/bin/python3", folder.appendingPathComponent("kubeless.py").path]
        default: throw HarnessError.notReady("no runtime \(language)")
        }
        var settings = environment
        settings["MOD_NAME"] = module
        settings["FUNC_HANDLER"] = handler
        settings["KUBELESS_DIR"] = (directory ?? folder.appendingPathComponent("examples")).path
        settings["PHP_CLI_SERVER_WORKERS"] = "4"
        (process, port) = try Self.start(command, settings, name: language)
    }

    /// The port is free when chosen but may be taken before the runtime binds
    /// it, so a runtime that exits before it is ready gets two more tries.
    private static func start(_ command: [String], _ settings: [String: String], name: String) throws -> (TestProcess, Int) {
        var output = ""
        for _ in 0..<3 {
            let port = try FreePort.pick()
            let process = try TestProcess(command[0], Array(command.dropFirst()),
                                          environment: settings.merging(["RUNTIME_PORT": String(port)]) { $1 })
            if waitUntilHealthy(process, port: port) { return (process, port) }
            stop(process)
            output = process.stderr.suffix(20).joined(separator: "\n")
        }
        throw HarnessError.notReady("\(name) runtime: \(output)")
    }

    /// Polls /healthz every 50 ms until it answers 200 OK, the process exits, or 30 s pass.
    private static func waitUntilHealthy(_ process: TestProcess, port: Int) -> Bool {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline && process.process.isRunning {
            if let client = try? RawClient(port: port, receiveTimeout: 5),
               (try? client.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")) != nil,
               let response = try? client.readResponse(), response.status == 200, response.bodyText == "OK" {
                return true
            }
            usleep(50_000)
        }
        return false
    }

    /// SIGKILL to the runtime's process group (ChildProcess starts each child
    /// as its own group leader), which takes PHP's forked workers with it.
    private static func stop(_ process: TestProcess) {
        let pid = process.process.processIdentifier
        guard pid > 0 else { return }
        _ = kill(getpgid(pid) == pid ? -pid : pid, SIGKILL)
        _ = process.waitForExit(timeout: 10)
    }

    deinit { Self.stop(process) }
}

/// A runtime serving one function and the proxy in front of it.
final class Deployment: @unchecked Sendable {
    let runtime: RuntimeServer
    let proxy: ProxyUnderTest

    /// `testFunction`: load `module` from Fixtures/kubeless instead of the runtime's examples/.
    init(_ language: String, _ module: String, _ handler: String, testFunction: Bool = false,
         runtimeEnvironment: [String: String] = [:], proxyArguments: [String] = [],
         proxyEnvironment: [String: String]? = nil) throws {
        runtime = try RuntimeServer(language, module: module, handler: handler,
                                    directory: testFunction ? RuntimeServer.testFunctions : nil,
                                    environment: runtimeEnvironment)
        proxy = try ProxyUnderTest(upstream: runtime.address, arguments: proxyArguments, environment: proxyEnvironment)
    }

    /// Sends one request through the proxy on a new connection and reads the answer.
    func call(_ method: String, _ target: String, headers: [String: String] = [:], body: String = "",
              receiveTimeout: TimeInterval = 20) throws -> RawClient.Response {
        let client = try RawClient(port: proxy.port, receiveTimeout: receiveTimeout)
        try client.send(Self.request(method, target, headers: headers, body: body))
        return try client.readResponse(requestMethod: method)
    }

    static func request(_ method: String, _ target: String, headers: [String: String] = [:], body: String = "") -> String {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: fn.test\r\nUser-Agent: kubeless-tests\r\n"
        if method != "GET" || !body.isEmpty { head += "Content-Length: \(body.utf8.count)\r\n" }
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        return head + "\r\n" + body
    }
}

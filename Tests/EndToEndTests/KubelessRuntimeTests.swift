import Foundation
import Testing

/// The Kubeless contract end to end, with real runtimes from runtimes/
/// (Ruby/Sinatra on WEBrick, PHP's built-in server with workers, Node's http,
/// Python/Bottle on gunicorn's threaded workers)
/// serving real functions behind the proxy binary. Outcomes only: statuses,
/// bodies, log lines and counters, never how long anything took.
@Suite struct KubelessRuntimeTests {
    static let languages = ["ruby", "php", "node", "python"]

    // GET of the helloget example through the proxy: status 200 and exactly "hello world".
    @Test(arguments: languages)
    func getReturnsHelloWorld(language: String) throws {
        let deployment = try Deployment(language, "helloget", "foo")
        let response = try deployment.call("GET", "/")
        #expect(response.status == 200)
        #expect(response.bodyText == "hello world")
    }

    // The deps example uses a library installed beside the runtime (ruby-rainbow, php-bcmath, node-lodash).
    @Test(arguments: languages)
    func depsExampleLoadsItsLibrary(language: String) throws {
        let deployment = try Deployment(language, "deps", "handler", runtimeEnvironment: ["NODE_PATH": "/usr/share/nodejs"])
        let response = try deployment.call("GET", "/")
        #expect(response.status == 200)
        let expected = ["ruby": "deps: rainbow plain text", "php": "deps: bcmath 12345678901234567891",
                        "node": "deps: lodash Plain text", "python": "deps: yaml plain: text"][language]
        #expect(response.bodyText == expected)
    }

    // POST of JSON with the four event headers: the hellopost function saw the parsed data and exactly those header values.
    @Test(arguments: languages)
    func postReturnsDataAndEventHeaders(language: String) throws {
        let deployment = try Deployment(language, "hellopost", "handler")
        let sent = [
            "event-id": "2ebb072eb24264f55b3fff",
            "event-type": "application/vnd.test+json",
            "event-time": "2009-11-10 23:00:00 +0000 UTC",
            "event-namespace": "tests.kubeless.io",
        ]
        let response = try deployment.call("POST", "/", headers: sent.merging(["Content-Type": "application/json"]) { $1 },
                                           body: #"{"it-s": "alive"}"#)
        #expect(response.status == 200)
        #expect(response.header("Content-Type")?.hasPrefix("application/json") == true)
        let seen = try Self.jsonObject(response)
        #expect(seen["data"] as? [String: String] == ["it-s": "alive"])
        for (name, value) in sent {
            #expect(seen[name] as? String == value, "\(name)")
        }
    }

    // Without event headers the runtime fills in Kubeless's defaults, and a body that is not JSON reaches the function as text.
    @Test(arguments: languages)
    func eventDefaultsAndTextData(language: String) throws {
        let deployment = try Deployment(language, "hellopost", "handler")
        let response = try deployment.call("POST", "/", headers: ["Content-Type": "text/plain"], body: "just text")
        #expect(response.status == 200)
        let seen = try Self.jsonObject(response)
        #expect(seen["data"] as? String == "just text")
        #expect(seen["event-type"] as? String == "application/json")
        #expect(seen["event-namespace"] as? String == "cli.kubeless.io")
        #expect((seen["event-id"] as? String)?.range(of: "^[0-9a-f]{22}$", options: .regularExpression) != nil)
        #expect((seen["event-time"] as? String)?.range(of: #"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC$"#,
                                                         options: .regularExpression) != nil)
    }

    // The context holds the function's name and the FUNC_TIMEOUT, FUNC_RUNTIME and FUNC_MEMORY_LIMIT the runtime was given.
    @Test(arguments: languages)
    func contextCarriesFunctionSettings(language: String) throws {
        let settings = ["FUNC_TIMEOUT": "7", "FUNC_RUNTIME": "\(language)-test", "FUNC_MEMORY_LIMIT": "128M"]
        let deployment = try Deployment(language, "by_path", "route", testFunction: true, runtimeEnvironment: settings)
        let response = try deployment.call("GET", "/context")
        #expect(response.status == 200)
        let context = try Self.jsonObject(response)
        #expect(context["function-name"] as? String == "by_path")
        #expect(context["timeout"] as? String == "7")
        #expect(context["runtime"] as? String == "\(language)-test")
        #expect(context["memory-limit"] as? String == "128M")
    }

    // A function that throws gets 500 with its message through the proxy, and the runtime goes on serving calls.
    @Test(arguments: languages)
    func exceptionGives500AndRuntimeKeepsServing(language: String) throws {
        let deployment = try Deployment(language, "by_path", "route", testFunction: true)
        let failed = try deployment.call("POST", "/fail")
        #expect(failed.status == 500)
        #expect(failed.bodyText == "failed on purpose\n")
        let after = try deployment.call("GET", "/hello")
        #expect(after.status == 200)
        #expect(after.bodyText == "hello world")
    }

    // --timeout 4: a call that never finishes gets 408 "Timeout exceeded\n", while the same runtime answers another call through the same proxy.
    @Test(arguments: languages)
    func stuckCallTimesOutWhileAnotherIsServed(language: String) throws {
        let deployment = try Deployment(language, "by_path", "route", testFunction: true, proxyArguments: ["--timeout", "4"])
        let stuck = try RawClient(port: deployment.proxy.port, receiveTimeout: 30)
        try stuck.send(Deployment.request("GET", "/hang"))
        // The call is inside the function before the second one is sent.
        #expect(deployment.runtime.process.waitForLine(onStderr: true) { $0.hasSuffix("hanging /hang") } != nil)
        let hello = try deployment.call("GET", "/hello")
        #expect(hello.status == 200)
        #expect(hello.bodyText == "hello world")
        let timedOut = try stuck.readResponse()
        #expect(timedOut.status == 408)
        #expect(timedOut.bodyText == "Timeout exceeded\n")
    }

    // FUNC_TIMEOUT=4 in the proxy's environment, no flag: the timeout example gets 408 "Timeout exceeded\n".
    @Test(arguments: languages)
    func funcTimeoutEnvironmentGives408(language: String) throws {
        let deployment = try Deployment(language, "timeout", "endless", proxyEnvironment: ["FUNC_TIMEOUT": "4"])
        let response = try deployment.call("GET", "/", receiveTimeout: 30)
        #expect(response.status == 408)
        #expect(response.bodyText == "Timeout exceeded\n")
    }

    // The proxy's access log has one line per proxied call with its method, path and status; /metrics counts the same calls, failures and durations; the runtime logs each call it finished.
    @Test(arguments: languages)
    func accessLogAndMetricsMatchTraffic(language: String) throws {
        let deployment = try Deployment(language, "by_path", "route", testFunction: true, proxyArguments: ["--timeout", "4"])
        let traffic: [(method: String, target: String, status: Int)] = [
            ("GET", "/hello?n=1", 200), ("GET", "/hello?n=2", 200), ("POST", "/hello", 200),
            ("POST", "/fail", 500), ("GET", "/hang", 408),
        ]
        for call in traffic {
            #expect(try deployment.call(call.method, call.target, receiveTimeout: 30).status == call.status)
        }
        let expected = traffic.map { "\($0.method) \($0.target) \($0.status)" }.sorted()

        let proxyLines = deployment.proxy.process.waitForLines(count: traffic.count) { _ in true }
        #expect(proxyLines.compactMap(Self.proxyLogEntry).sorted() == expected)
        #expect(proxyLines.allSatisfy { $0.hasPrefix("20") && $0.contains(" 127.0.0.1:") && $0.contains(" kubeless-tests ") })

        let metrics = try Self.metrics(deployment.call("GET", "/metrics").bodyText)
        #expect(metrics["function_calls_total{method=\"GET\"}"] == 3)
        #expect(metrics["function_calls_total{method=\"POST\"}"] == 2)
        // The 408 (GET /hang) and the function's exception, answered 500 (POST /fail), are failures.
        #expect(metrics["function_failures_total{method=\"GET\"}"] == 1)
        #expect(metrics["function_failures_total{method=\"POST\"}"] == 1)
        #expect(metrics["function_duration_seconds_count{method=\"GET\"}"] == 3)
        #expect(metrics["function_duration_seconds_count{method=\"POST\"}"] == 2)
        // Neither /metrics nor anything else added a line.
        #expect(deployment.proxy.logLines.count == traffic.count)

        // The runtime logs the four calls that finished (the stuck one never does), besides its /healthz probes.
        let finished = expected.filter { !$0.contains("/hang") }
        let runtimeLines = deployment.runtime.process.waitForLines(count: finished.count) {
            Self.runtimeLogEntry($0).map { !$0.contains("/healthz") } ?? false
        }
        #expect(runtimeLines.compactMap(Self.runtimeLogEntry).sorted() == finished)
    }

    // MARK: helpers

    static func jsonObject(_ response: RawClient.Response) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
                     "not a JSON object: \(response.bodyText)")
    }

    /// "METHOD target status" from a proxy log line: `date time addr "GET /x HTTP/1.1" 200 agent duration...`.
    static func proxyLogEntry(_ line: String) -> String? {
        guard let match = line.firstMatch(of: #/"([A-Z]+) (\S+) HTTP/1\.1" (\d{3}) /#) else { return nil }
        return "\(match.1) \(match.2) \(match.3)"
    }

    /// "METHOD target status" from a runtime log line: `2024/05/01 12:00:00 GET /x 200`.
    static func runtimeLogEntry(_ line: String) -> String? {
        guard let match = line.wholeMatch(of: #/\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ([A-Z]+) (\S+) (\d{3})/#) else { return nil }
        return "\(match.1) \(match.2) \(match.3)"
    }

    /// Sample name with labels -> value, from the Prometheus text exposition.
    static func metrics(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }
}

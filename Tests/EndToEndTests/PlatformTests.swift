import Foundation
import Testing

/// What Knative, Cloud Run and the Kubeless runtimes expect of the process
/// the proxy starts: `PORT` and `FUNC_PORT` set to the upstream's port, the
/// rest of the environment as it was, and the workload's names shown.
@Suite struct PlatformTests {
    static let runtimeScript = Harness.fixtures.appendingPathComponent("env_runtime.py").path

    // The runtime binds $PORT and sees FUNC_PORT as the upstream's port (not the proxy's own), and every other variable as it was.
    @Test func runtimeGetsTheUpstreamPort() throws {
        let port = try FreePort.pick()
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:\(port)", environment: [
            "FUNC_PROCESS": "\(Harness.python) \(Self.runtimeScript) PORT FUNC_PORT OTHER_SETTING",
            "PORT": "1", "FUNC_PORT": "2", "OTHER_SETTING": "kept as it is",
        ])
        let result = try curl(["\(proxy.baseURL)/env"])
        #expect(result.output == #"{"FUNC_PORT": "\#(port)", "OTHER_SETTING": "kept as it is", "PORT": "\#(port)"}"#,
                "got \(result.output) \(result.error)")
    }

    // FUNC_PROCESS with $PORT, written as Knative samples write it, expands to the upstream's port.
    @Test func shellExpandsPort() throws {
        let port = try FreePort.pick()
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:\(port)", environment: [
            "FUNC_PROCESS": "\(Harness.python) -m http.server $PORT --bind 127.0.0.1",
        ])
        #expect(try curl(["-o", "/dev/null", "-w", "%{http_code}", "\(proxy.baseURL)/"]).output == "200")
    }

    // K_SERVICE, K_REVISION and K_CONFIGURATION are logged at start and exported as runtime_proxy_workload_info.
    @Test func knativeWorkloadIsShown() throws {
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:9", environment: [
            "K_SERVICE": "hello", "K_REVISION": "hello-00001", "K_CONFIGURATION": "hello",
        ])
        #expect(proxy.process.waitForLine(onStderr: true) {
            $0 == "runtime-proxy: serving Knative service hello, revision hello-00001, configuration hello"
        } != nil)
        let metrics = try curl(["\(proxy.baseURL)/metrics"]).output
        #expect(metrics.contains(#"runtime_proxy_workload_info{configuration="hello",revision="hello-00001",service="hello"} 1"#))
    }

    // Without Knative's variables there is no workload line and no workload metric.
    @Test func noWorkloadOutsideKnative() throws {
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:9", environment: ["K_SERVICE": "", "K_REVISION": "", "K_CONFIGURATION": ""])
        let metrics = try curl(["\(proxy.baseURL)/metrics"]).output
        #expect(!metrics.contains("runtime_proxy_workload_info"))
        #expect(!proxy.process.stderr.joined().contains("serving Knative"))
    }

    // The plain WSGI example (Lithops' shape: Flask under gunicorn binding $PORT) behind the proxy; with buffering on, a chunked `curl -T` upload reaches it whole, with its length.
    @Test func wsgiAppBehindTheProxy() throws {
        let port = try FreePort.pick()
        let app = Harness.packageRoot.appendingPathComponent("examples/wsgi").path
        let proxy = try ProxyUnderTest(upstream: "127.0.0.1:\(port)", arguments: ["--buffer-request-body", "1m"], environment: [
            "FUNC_PROCESS": "gunicorn --chdir \(app) --bind 127.0.0.1:$PORT app:app",
        ])
        #expect(try curl(["\(proxy.baseURL)/"]).output == "hello from flask\n")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("wsgi-upload-\(UUID().uuidString)")
        #expect(FileManager.default.createFile(atPath: file.path, contents: Data(repeating: 0x7A, count: 100_000)))
        defer { try? FileManager.default.removeItem(at: file) }
        let upload = try curl(["-T", file.path, "-H", "Transfer-Encoding: chunked", "\(proxy.baseURL)/upload"]).output
        #expect(upload == #"{"content_length":"100000","length":100000,"transfer_encoding":null}"# + "\n", "got \(upload)")
    }
}

import Foundation
import Testing

/// The release binary is one static executable that serves from an empty
/// root: no /proc, no /etc, no shell, nothing but itself. `scripts/test`
/// builds it (scripts/build-static) and names it in RUNTIME_PROXY_STATIC_BIN.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["RUNTIME_PROXY_STATIC_BIN"] != nil && getuid() == 0,
                "needs scripts/build-static's binary (RUNTIME_PROXY_STATIC_BIN) and root for chroot"))
struct StaticBinaryTests {
    static var binary: String { ProcessInfo.processInfo.environment["RUNTIME_PROXY_STATIC_BIN"] ?? "" }

    // ldd finds no dynamic dependency at all.
    @Test func binaryIsStatic() throws {
        let result = try shell("ldd \(Self.binary) 2>&1; file \(Self.binary) 2>&1 || true")
        #expect(result.output.contains("not a dynamic executable"))
    }

    // In an empty chroot the binary starts, proxies a request, logs it, serves
    // /metrics without /proc and says once that process metrics are left out.
    @Test func servesFromAnEmptyRoot() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("empty-root-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.copyItem(atPath: Self.binary, toPath: root.appendingPathComponent("proxy").path)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.path) == ["proxy"])

        let upstream = try PythonUpstream("echo_upstream.py")
        let proxy = try TestProcess("/usr/sbin/chroot", [root.path, "/proxy", "--port", "0", "--listen-address", "127.0.0.1",
                                                         "--upstream", upstream.address, "--drain-delay", "0"])
        let line = try #require(proxy.waitForLine(onStderr: true) { $0.contains("listening on") }, "stderr: \(proxy.stderr)")
        let port = try #require(line.split(separator: ",").first?.split(separator: ":").last.flatMap { Int($0) })
        #expect(try curl(["-w", " %{http_code}", "http://127.0.0.1:\(port)/status/201"]).output == "status 201 201")
        let metrics = try curl(["http://127.0.0.1:\(port)/metrics"]).output
        #expect(metrics.contains("function_calls_total{method=\"GET\"} 1\n"))
        #expect(metrics.contains("process_start_time_seconds "))
        #expect(!metrics.contains("process_resident_memory_bytes"))
        #expect(proxy.stderr.contains { $0.contains("no /proc") })
        #expect(proxy.waitForLines(count: 1) { $0.contains("\"GET /status/201 HTTP/1.1\" 201") }.count == 1)
        #expect(try shell("chroot \(root.path) /proxy --version").output.hasPrefix("runtime-proxy \(BuildVersion.expected) (release build"))
    }
}

enum BuildVersion {
    /// The version the binary must print (kept in Sources/ProxyCore/Version.swift).
    static let expected = "0.1.0"
}

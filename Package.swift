// swift-tools-version:6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .treatAllWarnings(as: .error),
    // One thread owns everything, and debug builds (the test suite) keep the
    // dynamic exclusivity checks; release builds drop them from the data path.
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "runtime-proxy",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "runtime-proxy", targets: ["runtime-proxy"]),
        // For the fuzz targets in Fuzz/ (their own package, depending on this one by path).
        .library(name: "ProxyHTTP", targets: ["ProxyHTTP"]),
        .library(name: "ProxyCore", targets: ["ProxyCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        // C libraries, each imported privately by exactly one Swift module.
        .systemLibrary(name: "CLibUV", pkgConfig: "libuv-static", providers: [.apt(["libuv1-dev"])]),
        .systemLibrary(name: "CLLHTTP", pkgConfig: "libllhttp", providers: [.apt(["libllhttp-dev"])]),

        // The operating system: the only importer of CLibUV (event loop,
        // sockets, timers, signals) and the home of the few system calls
        // libuv lacks (spawning the runtime, /proc, the log's pipe, the clock).
        .target(name: "ProxySystem", dependencies: ["CLibUV"], swiftSettings: strict),
        // The only importer of CLLHTTP: bytes in, parse events out; no I/O.
        .target(name: "ProxyHTTP", dependencies: ["CLLHTTP"], swiftSettings: strict),
        // Prometheus text exposition: families, labels, histograms. No C, no I/O.
        .target(name: "PrometheusText", swiftSettings: strict),
        // Policy: connections, upstream pool, timeouts, local routes. No C.
        .target(name: "ProxyCore", dependencies: ["ProxySystem", "ProxyHTTP", "PrometheusText"], swiftSettings: strict + [.strictMemorySafety()]),
        // Captures argv before main, for hosts without /proc (empty chroot, scratch image).
        .target(name: "CStartup"),
        .executableTarget(
            name: "runtime-proxy",
            dependencies: ["ProxyCore", "ProxySystem", "ProxyHTTP", "CStartup", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),

        .testTarget(name: "ProxyHTTPTests", dependencies: ["ProxyHTTP"], swiftSettings: strict),
        .testTarget(name: "ProxyCoreTests", dependencies: ["ProxyCore"], swiftSettings: strict),
        .testTarget(name: "PrometheusTextTests", dependencies: ["PrometheusText"], swiftSettings: strict),
        .testTarget(name: "EndToEndTests", dependencies: [], exclude: ["Fixtures"], swiftSettings: strict),
    ]
)

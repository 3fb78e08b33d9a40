// swift-tools-version:6.2
// libFuzzer targets for runtime-proxy: its own package, so the root package's
// build and tests never see the fuzzer flags. Build and run with scripts/fuzz
// (see docs/security.md, "Fuzzing and sanitizers"):
//
//   swift build -c debug -Xswiftc -sanitize=fuzzer,address \
//       --package-path Fuzz --scratch-path Fuzz/.build-fuzz
//
// Without the fuzzer flags, `swift test --package-path Fuzz` replays the seed
// corpora and every saved crash through the same harnesses (FuzzReplayTests).
import Foundation
import PackageDescription

// A path dependency is identified by its folder's name (`main`, or whatever a
// clone is called): take it from where this file is.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "runtime-proxy-fuzz",
    platforms: [.macOS(.v13)],
    dependencies: [
        // The root package: its ProxyHTTP and ProxyCore library products.
        .package(path: "..")
    ],
    targets: [
        // The harnesses: what each fuzz target does with one input; and runFuzzer(),
        // which hands over to libFuzzer's driver (linked only with -sanitize=fuzzer).
        .target(name: "FuzzSupport", dependencies: [.product(name: "ProxyHTTP", package: root), .product(name: "ProxyCore", package: root), "CFuzzerDriver"]),
        // libFuzzer's driver, declared for Swift.
        .target(name: "CFuzzerDriver"),
        // One executable per libFuzzer target: the LLVMFuzzerTestOneInput entry point,
        // and a main() that runs libFuzzer's driver (runFuzzer).
        .executableTarget(name: "FuzzRequestParser", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "FuzzResponseParser", dependencies: ["FuzzSupport"]),
        .executableTarget(name: "FuzzConfigParsing", dependencies: ["FuzzSupport"]),
        // Replays Corpus/ and Crashes/ through the harnesses in a plain build.
        .testTarget(name: "FuzzReplayTests", dependencies: ["FuzzSupport"]),
    ]
)

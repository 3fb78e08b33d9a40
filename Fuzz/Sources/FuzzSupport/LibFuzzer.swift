import CFuzzerDriver

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A libFuzzer target's entry point, `LLVMFuzzerTestOneInput`: one input,
/// any bytes. A violated invariant or a trap in the code under test ends the
/// process, which libFuzzer reports.
public typealias FuzzTarget = @convention(c) (_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt

/// The fuzz executables' top-level code. SwiftPM links an executable with
/// its own main() (main.swift's top-level code), so libFuzzer's main() is
/// left out: this hands over to its driver with the command line, and exits
/// with what it returns. (`-parse-as-library` does not link: SwiftPM then
/// wants `<target>_main`.)
public func runFuzzer(_ target: FuzzTarget) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, target))
}

import CFuzzerDriver
import FuzzSupport

#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer's entry point: one input, any bytes. A violated invariant or a
/// trap in the code under test ends the process, which libFuzzer reports.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    ResponseParserHarness.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

// SwiftPM links an executable with its own main() (this file's top-level
// code), so libFuzzer's main() is left out: hand over to its driver.
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    guard let data else { return 0 }
    return fuzz(data, size)
})

import FuzzSupport

/// libFuzzer's entry point (`FuzzTarget`): one input through `ResponseParserHarness`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    ResponseParserHarness.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

runFuzzer(fuzz)

import FuzzSupport

/// libFuzzer's entry point (`FuzzTarget`): one input through `RequestParserHarness`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    RequestParserHarness.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

runFuzzer(fuzz)

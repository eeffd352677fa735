// libFuzzer entry point for the live zstd path: any bytes (a frame from a hostile
// Jetstream endpoint, huge window sizes included) decode or fail with an error, within
// the output cap, never trap or allocate past the window bound. (libFuzzer calls in one
// thread: the decoders are reused, as a connection reuses its one.)
import BotHost

nonisolated(unsafe) let plain = ZstdFrameDecoder(dictionary: nil, maxOutput: 1 << 20)
nonisolated(unsafe) let withDictionary = ZstdFrameDecoder(dictionary: .jetstreamV1, maxOutput: 1 << 20)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    for decoder in [plain, withDictionary] {
        if let output = try? decoder.decompress(bytes) {
            precondition(output.count <= decoder.maxOutput, "output over the cap")
        }
    }
    return 0
}

/// SwiftPM links an executable's entry point as `<module>_main`; it hands control to
/// libFuzzer's driver (libFuzzer's own `main` is then not linked in).
@_cdecl("FuzzZstdFrame_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, fuzzOne)
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

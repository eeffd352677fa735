// libFuzzer entry point for the consent command parser: any text, with any facet byte
// range (the first 4 bytes of the input), parses to a command or to none, never traps.
import Plugins

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 4 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let start = Int(Int8(bitPattern: bytes[0])) * Int(bytes[1])
    let end = Int(Int8(bitPattern: bytes[2])) * Int(bytes[3])
    let text = Array(bytes[4...])
    _ = ConsentCommand.parse(text, removing: [(start, end)])
    _ = ConsentCommand.parse(text, removing: [(0, min(4, text.count)), (start, end), (end, start)])
    _ = ConsentCommand.parse(String(decoding: text, as: UTF8.self))
    return 0
}

/// SwiftPM links an executable's entry point as `<module>_main`; it hands control to
/// libFuzzer's driver (libFuzzer's own `main` is then not linked in).
@_cdecl("FuzzConsentCommand_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, fuzzOne)
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

// libFuzzer entry point for the config loader (`bothost --config FILE`): any text must be
// accepted or refused with a diagnostic, never trap.
import Plugins

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    _ = try? BotHostConfiguration.parse(text, file: "fuzz.yaml")
    return 0
}

// libFuzzer entry point for the whole rule-pack checker (`bothost rules check`): pre-scan,
// YAML, the pack's structure, expressions, templates and examples.
import Rules

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRulePack(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    _ = try? RulePackChecker.check(text: text, file: "fuzz.yaml")
    return 0
}

/// SwiftPM links an executable's entry point as `<module>_main`; it hands control to
/// libFuzzer's driver (libFuzzer's own `main` is then not linked in).
@_cdecl("FuzzRulePack_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, fuzzRulePack)
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

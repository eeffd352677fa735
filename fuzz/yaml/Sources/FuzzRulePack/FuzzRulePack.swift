// libFuzzer entry point for the whole rule-pack checker (`bothost rules check`): pre-scan,
// YAML, the pack's structure, expressions, templates and examples.
import Rules

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRulePack(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    _ = try? RulePackChecker.check(text: text, file: "fuzz.yaml")
    return 0
}

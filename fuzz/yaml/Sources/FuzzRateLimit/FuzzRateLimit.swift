// libFuzzer entry point for what a PDS or proxy answers: header lines and a body become
// an HTTP response; the rate-limit headers are parsed, stored, loaded back and fed to the
// write budget, and the error text is redacted. Nothing may trap, and every value must
// come out clamped.
import BotHost
import XRPCClient

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let parts = text.split(separator: "\n\n", maxSplits: 1, omittingEmptySubsequences: false)
    var headers: [(name: String, value: String)] = []
    for line in parts[0].split(separator: "\n") {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
    }
    let body = parts.count > 1 ? Array(parts[1].utf8) : []
    let now: Int64 = 1_780_000_000
    let response = HTTPResponse(status: 429, headers: headers, body: body)
    if let limit = RateLimit(response, nowSeconds: now) {
        precondition(limit.remaining.map { (0...RateLimit.maxCount).contains($0) } ?? true)
        precondition(limit.limit.map { (0...RateLimit.maxCount).contains($0) } ?? true)
        precondition(limit.reset.map { $0 >= now && $0 <= now + RateLimit.maxResetAhead } ?? true)
        let stored = WriteBudgetState.rateLimitText(remaining: limit.remaining, limit: limit.limit, reset: limit.reset)
        let state = WriteBudgetState(nowUS: now * 1_000_000, dayWrites: [(now * 1_000_000, 3)], rateLimit: stored)
        _ = WriteBudget().waitUntil(points: 3, state: state, nowUS: now * 1_000_000)
        _ = XRPCError.server(status: 429, error: "RateLimitExceeded", message: String(decoding: body, as: UTF8.self), rateLimit: limit).description
    }
    // What a stored value looks like after any corruption, loaded back.
    let loaded = WriteBudgetState(nowUS: now * 1_000_000, dayWrites: [], rateLimit: text)
    _ = WriteBudget().waitUntil(points: 3, state: loaded, nowUS: now * 1_000_000)
    _ = Redact.secrets(in: text)
    return 0
}

/// SwiftPM links an executable's entry point as `<module>_main`; it hands control to
/// libFuzzer's driver (libFuzzer's own `main` is then not linked in).
@_cdecl("FuzzRateLimit_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, fuzzOne)
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

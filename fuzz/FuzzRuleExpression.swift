// libFuzzer entry point for the rule-pack expression language: the lexer, the Pratt
// parser (bounded depth) and the type checker, built by `make fuzz` straight from their
// sources. Rule packs are user input: no text may trap them.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRuleExpression(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let parsed = try? ExpressionParser.parse(text) else { return 0 }
    var schema = Schema.bluesky
    schema.objects["record"] = schema.objects["app.bsky.feed.post"]
    let checker = TypeChecker(schema: schema, scope: ["record": .object("record"), "event": .object("event"), "account": .object("account")])
    _ = try? checker.check(parsed)
    _ = ConditionAnalysis.isImpossible(parsed.expression)
    return 0
}

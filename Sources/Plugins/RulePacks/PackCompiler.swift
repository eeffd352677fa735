import BotHost
import Rules

/// A value while a compiled expression runs. Values read from the event stay on the
/// decoder's tape (`json`), so reading and comparing fields allocates nothing.
enum PackValue {
    case null
    case bool(Bool)
    case int(Int64)
    case text(String)
    case json(JSONValue)

    var isNull: Bool {
        switch self {
        case .null: return true
        case .json(let value): return !value.exists || value.kind == .null
        default: return false
        }
    }

    var int: Int64? {
        switch self {
        case .int(let value): return value
        case .json(let value): return value.int64
        default: return nil
        }
    }

    var bool: Bool {
        switch self {
        case .bool(let value): return value
        case .json(let value): return value.bool ?? false
        default: return false
        }
    }

    /// A 64-bit FNV-1a hash of the value's text (a once-per-subject key).
    static func hash(_ value: PackValue) -> Int64 {
        switch value {
        case .null: return 0
        case .bool(let flag): return flag ? 1 : 2
        case .int(let number): return Int64(bitPattern: (FNV1a.offsetBasis ^ UInt64(bitPattern: number)) &* FNV1a.prime)
        case .text, .json: return Int64(bitPattern: FNV1a.hash((value.text ?? "").utf8))
        }
    }

    /// The text (allocates for tape strings; used by the string functions only).
    var text: String? {
        switch self {
        case .text(let value): return value
        case .json(let value): return value.string
        case .int(let value): return String(value)
        default: return nil
        }
    }
}

/// What a compiled expression reads: the event, its record, the host's state, and the
/// slots of lambda parameters. One per plugin, reused for every event.
final class PackEnvironment {
    var event: Event?
    var record: JSONValue?
    unowned(unsafe) var context: PluginContext!
    var locals: [PackValue] = Array(repeating: .null, count: 8)
    /// Collection id of app.bsky.feed.post, for `grantOf` of posts without interning.
    var postCollection: UInt16 = 0
    /// A shadow pack's `grantOf` reads the shadow's own grants.
    var shadow = false
}

typealias Compiled = (PackEnvironment) -> PackValue

/// Compiles checked expressions to closures: field names become precomputed keys, and
/// literal comparisons compare bytes on the tape.
struct PackCompiler {
    var slots: [String: Int] = [:]
    /// The remembered daily count of each of the pack's counters, for `today("name")`.
    var counterSlots: [String: CounterRef] = [:]

    func compile(_ expression: Expression) -> Compiled {
        switch expression {
        case .int(let value): let v = PackValue.int(value); return { _ in v }
        case .bool(let value): let v = PackValue.bool(value); return { _ in v }
        case .string(let value): let v = PackValue.text(value); return { _ in v }
        case .null: return { _ in .null }
        case .name(let name):
            if let slot = slots[name] { return { $0.locals[slot] } }
            if name == "record" { return { env in env.record.map { .json($0) } ?? .null } }
            return { _ in .null }
        case .member(.name("event"), let field) where slots["event"] == nil:
            return eventField(field)
        case .member(.name("account"), let field) where slots["account"] == nil:
            switch field {
            case "xp": return { .int($0.context.xp) }
            case "level": return { .int(Int64($0.context.level)) }
            default: return { _ in .null }
            }
        case .member(let base, let field):
            let compiledBase = compile(base)
            let key = JSONKey(field)
            return { env in
                guard case .json(let value) = compiledBase(env) else { return .null }
                let member = value[key]
                return member.exists && member.kind != .null ? .json(member) : .null
            }
        case .lambda: return { _ in .null }
        case .unary(let op, let operand):
            let inner = compile(operand)
            if op == "!" { return { .bool(!inner($0).bool) } }
            return { .int(-(inner($0).int ?? 0)) }
        case .binary(let op, let left, let right):
            return binary(op, left, right)
        case .conditional(let condition, let then, let otherwise):
            let c = compile(condition), a = compile(then), b = compile(otherwise)
            return { c($0).bool ? a($0) : b($0) }
        case .call(let name, let arguments):
            return call(name, arguments)
        }
    }

    private func eventField(_ field: String) -> Compiled {
        switch field {
        case "did": return { env in env.event.map { .json($0.did) } ?? .null }
        case "collection": return { env in env.event?.commit.map { .json($0.collection) } ?? .null }
        case "rkey": return { env in env.event?.commit.map { .json($0.rkey) } ?? .null }
        case "cid": return { env in env.event?.commit.map { .json($0.cid) } ?? .null }
        case "time_us": return { env in .int(env.event?.timeUS ?? 0) }
        case "operation":
            return { env in
                switch env.event?.commit?.operation {
                case .create?: return .text("create")
                case .update?: return .text("update")
                case .delete?: return .text("delete")
                case nil: return .null
                }
            }
        case "uri": return { env in .text(env.context.currentRecordURI) }
        default: return { _ in .null }
        }
    }

    private func binary(_ op: String, _ left: Expression, _ right: Expression) -> Compiled {
        // A comparison with a string literal compares bytes on the tape.
        if op == "==" || op == "!=", case .string(let literal) = right {
            let l = compile(left), key = JSONKey(literal), negate = op == "!="
            return { env in
                let value = l(env)
                let equal: Bool
                switch value {
                case .json(let json): equal = json.stringEquals(key)
                case .text(let text): equal = text == literal
                default: equal = false
                }
                return .bool(equal != negate)
            }
        }
        let l = compile(left), r = compile(right)
        switch op {
        case "&&": return { .bool(l($0).bool && r($0).bool) }
        case "||": return { .bool(l($0).bool || r($0).bool) }
        case "??": return { env in let value = l(env); return value.isNull ? r(env) : value }
        case "==", "!=":
            let negate = op == "!="
            return { env in .bool(Self.equal(l(env), r(env)) != negate) }
        case "+":
            return { env in
                let a = l(env), b = r(env)
                if let x = a.int, let y = b.int { return .int(x &+ y) }
                return .text((a.text ?? "") + (b.text ?? ""))
            }
        case "-": return { .int((l($0).int ?? 0) &- (r($0).int ?? 0)) }
        case "*": return { .int((l($0).int ?? 0) &* (r($0).int ?? 0)) }
        case "/": return { env in let d = r(env).int ?? 0; return .int(d == 0 ? 0 : (l(env).int ?? 0) / d) }
        case "%": return { env in let d = r(env).int ?? 0; return .int(d == 0 ? 0 : (l(env).int ?? 0) % d) }
        case "<": return { .bool((l($0).int ?? 0) < (r($0).int ?? 0)) }
        case "<=": return { .bool((l($0).int ?? 0) <= (r($0).int ?? 0)) }
        case ">": return { .bool((l($0).int ?? 0) > (r($0).int ?? 0)) }
        case ">=": return { .bool((l($0).int ?? 0) >= (r($0).int ?? 0)) }
        default: return { _ in .null }
        }
    }

    static func equal(_ a: PackValue, _ b: PackValue) -> Bool {
        if a.isNull || b.isNull { return a.isNull && b.isNull }
        if let x = a.int, let y = b.int { return x == y }
        if case .bool(let x) = a, case .bool(let y) = b { return x == y }
        return a.text == b.text
    }

    private func call(_ name: String, _ arguments: [Expression]) -> Compiled {
        switch name {
        case "any", "all", "count":
            guard arguments.count == 2, case .lambda(let parameter, let body) = arguments[1] else { return { _ in .null } }
            let list = compile(arguments[0])
            var inner = self
            let slot = slots.count
            inner.slots[parameter] = slot
            let test = inner.compile(body)
            return { env in
                guard case .json(let value) = list(env) else { return name == "count" ? .int(0) : .bool(name == "all") }
                var matches: Int64 = 0
                for element in value.elements {
                    env.locals[slot] = .json(element)
                    let passed = test(env).bool
                    if name == "any" && passed { return .bool(true) }
                    if name == "all" && !passed { return .bool(false) }
                    if passed { matches += 1 }
                }
                return name == "count" ? .int(matches) : .bool(name == "all")
            }
        default: break
        }
        let compiled = arguments.map { compile($0) }
        switch name {
        case "len":
            return { env in
                switch compiled[0](env) {
                case .json(let value): return .int(Int64(value.kind == .string ? (value.string?.count ?? 0) : value.count))
                case .text(let text): return .int(Int64(text.count))
                default: return .int(0)
                }
            }
        case "has": return { .bool(!compiled[0]($0).isNull) }
        case "isBlank":
            return { env in
                switch compiled[0](env) {
                case .json(let value): return .bool(!value.isNonBlankString)
                case .text(let text): return .bool(!text.unicodeScalars.contains { !$0.properties.isWhitespace })
                default: return .bool(true)
                }
            }
        case "lower": return { .text(compiled[0]($0).text?.lowercased() ?? "") }
        case "contains": return { env in .bool((compiled[0](env).text ?? "").contains(compiled[1](env).text ?? "\u{0}")) }
        case "startsWith": return { env in .bool((compiled[0](env).text ?? "").hasPrefix(compiled[1](env).text ?? "\u{0}")) }
        case "endsWith": return { env in .bool((compiled[0](env).text ?? "").hasSuffix(compiled[1](env).text ?? "\u{0}")) }
        case "today":
            guard case .string(let name) = arguments[0], let slot = counterSlots[name] else { return { _ in .int(0) } }
            return { env in
                guard let event = env.event else { return .int(0) }
                return .int(env.context.limit(slot, .dailyCount, key: event.timeUS / 86_400_000_000 * 86_400) ?? 0)
            }
        case "min": return { .int(min($0 |> compiled[0], $0 |> compiled[1])) }
        case "max": return { .int(max($0 |> compiled[0], $0 |> compiled[1])) }
        case "authorOf":
            return { env in
                guard let uri = compiled[0](env).text, uri.hasPrefix("at://") else { return .null }
                return .text(String(uri.dropFirst(5).prefix { $0 != "/" }))
            }
        case "isSelf":
            return { env in
                guard case .json(let uri) = compiled[0](env), let event = env.event else { return .bool(false) }
                return .bool(RecordURI.isOwn(uri, event))
            }
        case "grantOf":
            return { env in
                guard case .json(let uri) = compiled[0](env) else { return .null }
                let grant = RecordURI.withBytes(of: uri) { bytes -> Grant? in
                    guard let parts = RecordURI(bytes) else { return nil }
                    // A subject names any collection it likes: only one the host has seen
                    // records of can hold a grant, and nothing is interned from here.
                    let known = parts.collectionEquals("app.bsky.feed.post") ? env.postCollection : env.context.knownCollectionID(parts.collection)
                    guard let collection = known else { return nil }
                    return env.shadow ? env.context.shadowGrant(did: parts.authority, collection: collection, rkey: parts.rkey)
                        : env.context.liveGrant(did: parts.authority, collection: collection, rkey: parts.rkey)
                }
                return grant.map { .int(Int64($0.amount)) } ?? .null
            }
        default:
            return { _ in .null }
        }
    }
}

infix operator |> : AdditionPrecedence
private func |> (env: PackEnvironment, f: Compiled) -> Int64 { f(env).int ?? 0 }

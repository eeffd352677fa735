/// Type-checks an expression against the schema, with the names in scope (`record`,
/// `event`, `account`, lambda parameters). Errors carry the offending node's offset.
struct TypeChecker {
    let schema: Schema
    var scope: [String: ValueType]
    /// The pack's counters (`counter:` of its rules), readable with `today("name")`.
    var counters: Set<String> = []

    /// Functions: name → (parameter count, result for the argument types, or an error).
    static let functionNames = ["len", "any", "all", "count", "has", "isBlank", "lower", "contains", "startsWith",
                                "endsWith", "authorOf", "isSelf", "grantOf", "min", "max", "today"]

    func check(_ node: Located) throws(ExpressionError) -> ValueType {
        switch node.expression {
        case .int: return .int
        case .string: return .string
        case .bool: return .bool
        case .null: return .null
        case .name(let name):
            guard let type = scope[name] else {
                let known = scope.keys.sorted().joined(separator: ", ")
                throw ExpressionError(offset: node.offset, message: "unknown name '\(name)'; expected one of: \(known)")
            }
            return type
        case .member(_, let field):
            let base = try check(node.children[0])
            let optional = base.isOptional
            guard case .object(let name) = base.unwrapped else {
                throw ExpressionError(offset: node.offset, message: "'\(field)' is read from a \(base), which has no fields")
            }
            guard let fields = schema.objects[name], let type = fields[field] else {
                let known = (schema.objects[name] ?? [:]).keys.sorted().joined(separator: ", ")
                throw ExpressionError(offset: node.offset, message: "\(name) has no field '\(field)'; expected one of: \(known)")
            }
            return optional ? type.asOptional : type
        case .lambda:
            throw ExpressionError(offset: node.offset, message: "a lambda (x -> …) is only allowed as the second argument of any, all or count")
        case .unary(let op, _):
            let operand = try check(node.children[0])
            let expected: ValueType = op == "!" ? .bool : .int
            guard operand == expected else {
                throw ExpressionError(offset: node.children[0].offset, message: "'\(op)' needs a \(expected), got \(operand)")
            }
            return expected
        case .binary(let op, _, _):
            return try binary(op, node)
        case .conditional:
            let condition = try check(node.children[0])
            guard condition == .bool else {
                throw ExpressionError(offset: node.children[0].offset, message: "the condition of '? :' must be a bool, got \(condition)")
            }
            let a = try check(node.children[1]), b = try check(node.children[2])
            guard let joined = Self.join(a, b) else {
                throw ExpressionError(offset: node.offset, message: "the two branches of '? :' differ: \(a) and \(b)")
            }
            return joined
        case .call(let name, _):
            return try call(name, node)
        }
    }

    /// The common type of two branches (`T` and `T?` give `T?`; `null` and `T` give `T?`).
    static func join(_ a: ValueType, _ b: ValueType) -> ValueType? {
        if a == b { return a }
        if a == .null { return b.asOptional }
        if b == .null { return a.asOptional }
        if a.unwrapped == b.unwrapped { return a.unwrapped.asOptional }
        return nil
    }

    private func binary(_ op: String, _ node: Located) throws(ExpressionError) -> ValueType {
        let left = try check(node.children[0]), right = try check(node.children[1])
        func need(_ type: ValueType, _ side: Int, _ actual: ValueType) throws(ExpressionError) {
            guard actual == type else {
                throw ExpressionError(offset: node.children[side].offset, message: "'\(op)' needs a \(type) on the \(side == 0 ? "left" : "right"), got \(actual)")
            }
        }
        switch op {
        case "&&", "||":
            try need(.bool, 0, left); try need(.bool, 1, right)
            return .bool
        case "+" where left == .string || right == .string:
            try need(.string, 0, left); try need(.string, 1, right)
            return .string
        case "+", "-", "*", "/", "%":
            try need(.int, 0, left); try need(.int, 1, right)
            if op == "/" || op == "%", case .int(0) = node.children[1].expression {
                throw ExpressionError(offset: node.children[1].offset, message: "division by zero; expected a divisor other than 0")
            }
            return .int
        case "<", "<=", ">", ">=":
            try need(.int, 0, left); try need(.int, 1, right)
            return .bool
        case "==", "!=":
            guard Self.join(left, right) != nil else {
                throw ExpressionError(offset: node.offset, message: "'\(op)' compares a \(left) with a \(right); they can never be equal")
            }
            return .bool
        case "??":
            guard left.isOptional else {
                throw ExpressionError(offset: node.children[0].offset, message: "'??' needs an optional value on the left, got \(left) (never null)")
            }
            guard let joined = Self.join(left.unwrapped, right) else {
                throw ExpressionError(offset: node.children[1].offset, message: "'??' default is a \(right), but the value is a \(left.unwrapped)")
            }
            return joined
        default:
            throw ExpressionError(offset: node.offset, message: "unknown operator '\(op)'")
        }
    }

    private func call(_ name: String, _ node: Located) throws(ExpressionError) -> ValueType {
        let arguments = node.children
        func arity(_ count: Int, _ usage: String) throws(ExpressionError) {
            guard arguments.count == count else {
                throw ExpressionError(offset: node.offset, message: "\(name) takes \(count) argument\(count == 1 ? "" : "s"): \(usage)")
            }
        }
        func argument(_ index: Int, _ type: ValueType) throws(ExpressionError) {
            let actual = try check(arguments[index])
            guard actual == type else {
                throw ExpressionError(offset: arguments[index].offset, message: "\(name) needs a \(type) as argument \(index + 1), got \(actual)")
            }
        }
        switch name {
        case "len":
            try arity(1, "len(string or list)")
            let type = try check(arguments[0])
            switch type {
            case .string, .list: return .int
            default: throw ExpressionError(offset: arguments[0].offset, message: "len needs a string or a list, got \(type)")
            }
        case "any", "all", "count":
            try arity(2, "\(name)(list, item -> condition)")
            let listType = try check(arguments[0])
            guard case .list(let element) = listType.unwrapped else {
                throw ExpressionError(offset: arguments[0].offset, message: "\(name) needs a list as argument 1, got \(listType)")
            }
            guard case .lambda(let parameter, _) = arguments[1].expression else {
                throw ExpressionError(offset: arguments[1].offset, message: "\(name) needs a lambda as argument 2, e.g. item -> item.alt != \"\"")
            }
            var inner = self
            inner.scope[parameter] = element
            let body = try inner.check(arguments[1].children[0])
            guard body == .bool else {
                throw ExpressionError(offset: arguments[1].children[0].offset, message: "the lambda of \(name) must give a bool, got \(body)")
            }
            return name == "count" ? .int : .bool
        case "has":
            try arity(1, "has(optional value)")
            let type = try check(arguments[0])
            guard type.isOptional else {
                throw ExpressionError(offset: arguments[0].offset, message: "has needs an optional value, got \(type) (always present)")
            }
            return .bool
        case "isBlank", "lower":
            try arity(1, "\(name)(string)")
            try argument(0, .string)
            return name == "lower" ? .string : .bool
        case "contains", "startsWith", "endsWith":
            try arity(2, "\(name)(string, string)")
            try argument(0, .string); try argument(1, .string)
            return .bool
        case "authorOf":
            try arity(1, "authorOf(at-uri string)")
            try argument(0, .string)
            return .string
        case "isSelf":
            try arity(1, "isSelf(at-uri string): the URI names a record of the event's own account")
            try argument(0, .string)
            return .bool
        case "grantOf":
            try arity(1, "grantOf(at-uri string): the XP granted for that record, null when the host has not seen it created or saw it deleted")
            try argument(0, .string)
            return .optional(.int)
        case "today":
            try arity(1, "today(\"counter\"): how many events the account's counter counted today (UTC), before this one")
            guard case .string(let counter) = arguments[0].expression else {
                throw ExpressionError(offset: arguments[0].offset, message: "today needs a counter's name as a string literal, e.g. today(\"posts\")")
            }
            guard counters.contains(counter) else {
                let known = counters.sorted().map { "'\($0)'" }.joined(separator: ", ")
                throw ExpressionError(offset: arguments[0].offset, message: "unknown counter '\(counter)'; expected one of the pack's counters: \(known.isEmpty ? "(none: add counter: NAME to a rule)" : known)")
            }
            return .int
        case "min", "max":
            try arity(2, "\(name)(int, int)")
            try argument(0, .int); try argument(1, .int)
            return .int
        default:
            throw ExpressionError(offset: node.offset, message: "unknown function '\(name)'; expected one of: \(Self.functionNames.joined(separator: ", "))")
        }
    }
}

/// Constant facts about a condition, for "impossible condition" errors.
enum ConditionAnalysis {
    /// Whether the condition can never be true: a `false` literal, a comparison of
    /// literals that is false, or the same path required equal to two different literals.
    static func isImpossible(_ expression: Expression) -> Bool {
        if case .some(false) = constant(expression) { return true }
        var equalities: [String: Expression] = [:]
        return conflicting(expression, &equalities)
    }

    static func constant(_ expression: Expression) -> Bool? {
        switch expression {
        case .bool(let value): return value
        case .unary("!", let inner): return constant(inner).map { !$0 }
        case .binary("&&", let a, let b):
            // Each side once: evaluating them twice per level is exponential in the
            // length of an `&&` chain (found by the fuzzer).
            let x = constant(a), y = constant(b)
            if x == false || y == false { return false }
            if let x, let y { return x && y }
            return nil
        case .binary("||", let a, let b):
            let x = constant(a), y = constant(b)
            if x == true || y == true { return true }
            if let x, let y { return x || y }
            return nil
        case .binary(let op, .int(let a), .int(let b)):
            switch op {
            case "==": return a == b
            case "!=": return a != b
            case "<": return a < b
            case "<=": return a <= b
            case ">": return a > b
            case ">=": return a >= b
            default: return nil
            }
        case .binary("==", .string(let a), .string(let b)): return a == b
        case .binary("!=", .string(let a), .string(let b)): return a != b
        default: return nil
        }
    }

    private static func conflicting(_ expression: Expression, _ equalities: inout [String: Expression]) -> Bool {
        switch expression {
        case .binary("&&", let a, let b):
            return conflicting(a, &equalities) || conflicting(b, &equalities)
        case .binary("==", let path, let literal) where isLiteral(literal) && path.pathText != nil,
             .binary("==", let literal, let path) where isLiteral(literal) && path.pathText != nil:
            let key = path.pathText!
            if let known = equalities[key], known != literal { return true }
            equalities[key] = literal
            return false
        default:
            return false
        }
    }

    private static func isLiteral(_ expression: Expression) -> Bool {
        switch expression {
        case .int, .string, .bool: return true
        default: return false
        }
    }
}

extension Expression {
    /// `record.embed.$type` for a path of names and members; nil otherwise.
    var pathText: String? {
        switch self {
        case .name(let name): return name
        case .member(let base, let field): return base.pathText.map { "\($0).\(field)" }
        default: return nil
        }
    }
}

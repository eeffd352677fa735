/// The rule-pack expression language: a small, typed, side-effect-free language over
/// the event, its record and the account (docs/rules.md).
///
///     record.embed.images != null && all(record.embed.images, i -> !isBlank(i.alt ?? ""))
///     len(record.text) > 280 ? 20 : 10
public indirect enum Expression: Sendable, Equatable {
    case int(Int64)
    case string(String)
    case bool(Bool)
    case null
    case name(String)
    case member(Expression, String)
    case call(String, [Expression])
    case lambda(String, Expression)
    case unary(String, Expression)
    case binary(String, Expression, Expression)
    case conditional(Expression, Expression, Expression)
}

/// An expression with the source offset of each node, for diagnostics.
public struct Located: Sendable {
    public var expression: Expression
    /// Offset (in characters) of the node in the expression text.
    public var offset: Int
    public var children: [Located]
}

/// A syntax or type error at a character offset of an expression.
public struct ExpressionError: Error, Sendable, Equatable {
    public var offset: Int
    public var message: String
}

/// Tokens and a Pratt parser. Recursion is bounded (`maxDepth`) so a hostile pack
/// cannot overflow the stack.
struct ExpressionParser {
    enum Token: Equatable {
        case int(Int64), string(String), name(String), op(String), end
    }

    private var tokens: [(token: Token, offset: Int)] = []
    private var index = 0
    private var depth = 0
    static let maxDepth = 64
    static let maxLength = 4_096

    init(_ text: String) throws(ExpressionError) {
        guard text.count <= Self.maxLength else {
            throw ExpressionError(offset: 0, message: "expression is longer than \(Self.maxLength) characters")
        }
        tokens = try Self.lex(Array(text))
    }

    static func parse(_ text: String) throws(ExpressionError) -> Located {
        var parser = try ExpressionParser(text)
        let result = try parser.expression(0)
        guard case .end = parser.tokens[parser.index].token else {
            throw ExpressionError(offset: parser.tokens[parser.index].offset, message: "unexpected \(parser.describe(parser.tokens[parser.index].token)); expected an operator or the end of the expression")
        }
        return result
    }

    static let operators = ["->", "??", "==", "!=", "<=", ">=", "&&", "||", "<", ">", "+", "-", "*", "/", "%", "!", "?", ":", "(", ")", ",", "."]

    static func lex(_ chars: [Character]) throws(ExpressionError) -> [(token: Token, offset: Int)] {
        var result: [(Token, Int)] = []
        var i = 0
        outer: while i < chars.count {
            let c = chars[i]
            if c.isWhitespace { i += 1; continue }
            let start = i
            if c.isNumber, c.isASCII {
                var value: Int64 = 0
                while i < chars.count, chars[i].isASCII, let digit = chars[i].wholeNumberValue {
                    let (product, overflow1) = value.multipliedReportingOverflow(by: 10)
                    let (sum, overflow2) = product.addingReportingOverflow(Int64(digit))
                    if overflow1 || overflow2 { throw ExpressionError(offset: start, message: "integer literal is too large") }
                    value = sum
                    i += 1
                }
                result.append((.int(value), start))
                continue
            }
            if c == "\"" || c == "'" {
                var text = ""
                i += 1
                while i < chars.count, chars[i] != c {
                    if chars[i] == "\\", i + 1 < chars.count {
                        i += 1
                        switch chars[i] {
                        case "n": text.append("\n")
                        case "t": text.append("\t")
                        default: text.append(chars[i])
                        }
                    } else {
                        text.append(chars[i])
                    }
                    i += 1
                }
                guard i < chars.count else { throw ExpressionError(offset: start, message: "unterminated string literal") }
                i += 1
                result.append((.string(text), start))
                continue
            }
            if c.isLetter || c == "_" || c == "$" {
                var name = ""
                while i < chars.count, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" || chars[i] == "$" {
                    name.append(chars[i]); i += 1
                }
                result.append((.name(name), start))
                continue
            }
            for op in operators where op.count <= chars.count - i && String(chars[i..<(i + op.count)]) == op {
                result.append((.op(op), start))
                i += op.count
                continue outer
            }
            throw ExpressionError(offset: start, message: "unexpected character '\(c)'")
        }
        result.append((.end, chars.count))
        return result
    }

    func describe(_ token: Token) -> String {
        switch token {
        case .int(let value): "number \(value)"
        case .string: "string literal"
        case .name(let name): "'\(name)'"
        case .op(let op): "'\(op)'"
        case .end: "end of expression"
        }
    }

    private static func precedence(_ op: String) -> Int? {
        switch op {
        case "?": 1
        case "??": 2
        case "||": 3
        case "&&": 4
        case "==", "!=": 5
        case "<", "<=", ">", ">=": 6
        case "+", "-": 7
        case "*", "/", "%": 8
        default: nil
        }
    }

    private mutating func next() -> (token: Token, offset: Int) {
        defer { index += 1 }
        return tokens[index]
    }

    private mutating func expect(_ op: String, _ context: String) throws(ExpressionError) {
        let token = next()
        guard token.token == .op(op) else {
            throw ExpressionError(offset: token.offset, message: "expected '\(op)' \(context), found \(describe(token.token))")
        }
    }

    mutating func expression(_ minimum: Int) throws(ExpressionError) -> Located {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else {
            throw ExpressionError(offset: tokens[index].offset, message: "expression is nested more than \(Self.maxDepth) levels deep")
        }
        var left = try prefix()
        while case .op(let op) = tokens[index].token, let precedence = Self.precedence(op), precedence >= minimum {
            let offset = next().offset
            if op == "?" {
                let then = try expression(0)
                try expect(":", "in a conditional (cond ? a : b)")
                let otherwise = try expression(1)
                left = Located(expression: .conditional(left.expression, then.expression, otherwise.expression), offset: offset,
                               children: [left, then, otherwise])
            } else {
                // `??` is right-associative; the others left.
                let right = try expression(op == "??" ? precedence : precedence + 1)
                left = Located(expression: .binary(op, left.expression, right.expression), offset: offset, children: [left, right])
            }
        }
        return left
    }

    private mutating func prefix() throws(ExpressionError) -> Located {
        let token = next()
        var node: Located
        switch token.token {
        case .int(let value): node = Located(expression: .int(value), offset: token.offset, children: [])
        case .string(let value): node = Located(expression: .string(value), offset: token.offset, children: [])
        case .name("true"): node = Located(expression: .bool(true), offset: token.offset, children: [])
        case .name("false"): node = Located(expression: .bool(false), offset: token.offset, children: [])
        case .name("null"): node = Located(expression: .null, offset: token.offset, children: [])
        case .name(let name):
            if case .op("(") = tokens[index].token {
                index += 1
                var arguments: [Located] = []
                if tokens[index].token != .op(")") {
                    while true {
                        arguments.append(try argument())
                        if tokens[index].token == .op(",") { index += 1; continue }
                        break
                    }
                }
                try expect(")", "to close the arguments of \(name)(…)")
                node = Located(expression: .call(name, arguments.map(\.expression)), offset: token.offset, children: arguments)
            } else {
                node = Located(expression: .name(name), offset: token.offset, children: [])
            }
        case .op("!"), .op("-"):
            guard case .op(let op) = token.token else { fatalError() }
            let operand = try expression(9)
            node = Located(expression: .unary(op, operand.expression), offset: token.offset, children: [operand])
        case .op("("):
            node = try expression(0)
            try expect(")", "to close '('")
        default:
            throw ExpressionError(offset: token.offset, message: "unexpected \(describe(token.token)); expected a value, a name or '('")
        }
        while tokens[index].token == .op(".") {
            index += 1
            let field = next()
            guard case .name(let name) = field.token else {
                throw ExpressionError(offset: field.offset, message: "expected a field name after '.', found \(describe(field.token))")
            }
            node = Located(expression: .member(node.expression, name), offset: field.offset, children: [node])
        }
        return node
    }

    /// A call argument: an expression, or a lambda `name -> expression`.
    private mutating func argument() throws(ExpressionError) -> Located {
        if case .name(let name) = tokens[index].token, tokens[index + 1].token == .op("->") {
            let offset = tokens[index].offset
            index += 2
            let body = try expression(0)
            return Located(expression: .lambda(name, body.expression), offset: offset, children: [body])
        }
        return try expression(0)
    }
}

import Yams

/// A checked rule pack: what `bothost rules check` accepts (docs/rules.md).
public struct RulePack: Sendable {
    public var id: String
    public var version: String
    public var mode: Mode
    public var rules: [Rule]
    public var milestones: [Int]
    public var templates: [String: String]

    public enum Mode: String, Sendable { case live, shadow }

    public struct Rule: Sendable {
        public var id: String
        public var collections: [String]
        public var operations: [String]
        public var condition: Expression?
        public var xp: Expression?
        public var oncePer: Expression?
        public var counter: String?
        public var cap: Cap?
        public var cooldownSeconds: Int?
        /// Examples: Jetstream lines to apply and the net XP they must grant.
        public var examples: [Example] = []
    }

    /// At most `xp` XP, or at most `grants` grants, per account per `per` window
    /// (`hour`, `day` or `week` of event time, UTC; weeks start on Monday).
    public struct Cap: Sendable, Equatable {
        public var per: String
        public var xp: Int?
        public var grants: Int?

        /// The window's length in seconds.
        public var seconds: Int64 { per == "hour" ? 3_600 : per == "day" ? 86_400 : 7 * 86_400 }

        /// The start (unix seconds) of the window holding `timeUS`.
        public func windowStart(timeUS: Int64) -> Int64 {
            let seconds = timeUS >= 0 ? timeUS / 1_000_000 : (timeUS - 999_999) / 1_000_000
            // 1970-01-01 was a Thursday: weeks are shifted to start on Monday.
            let offset: Int64 = per == "week" ? 3 * 86_400 : 0
            let shifted = seconds + offset
            return shifted - ((shifted % self.seconds) + self.seconds) % self.seconds - offset
        }
    }

    /// A rule's example, runnable by `bothost rules test`.
    public struct Example: Sendable {
        public var lines: [String]
        public var expectXP: Int64
        /// Where the example is, for reports.
        public var line: Int
        public var column: Int
    }
}

/// Reads and checks a rule pack, refusing the first problem with `file:line:col`, the
/// line, a caret and what was expected. It never traps on its input: size, nesting,
/// anchors and expression depth are bounded before anything is built from them.
public enum RulePackChecker {
    public static let maxBytes = 1 << 20
    public static let maxNesting = 32

    public static func check(text: String, file: String, schema: Schema = .bluesky) throws(Diagnostic) -> RulePack {
        try preScan(text, file: file)
        let doc = try YAMLDocument(text: text, file: file)
        guard let root = doc.root else {
            throw Diagnostic(file: file, line: 1, column: 1, message: "empty rule pack; expected a mapping with pack, version and rules")
        }
        let top = try doc.mapping(root, "the rule pack")
        try doc.rejectUnknownKeys(in: top, allowed: ["pack", "version", "description", "mode", "collections", "rules",
                                                     "milestones", "rankings"], section: "the rule pack")
        guard let idNode = top["pack"] else { throw doc.error("missing 'pack' (the pack's id, e.g. pack: leveling)", at: root) }
        let id = try doc.string(idNode, "pack")
        guard isIdentifier(id) else { throw doc.error("pack id must be letters, digits, '-' or '_', got '\(id)'", at: idNode) }
        guard let versionNode = top["version"] else { throw doc.error("missing 'version' (e.g. version: 1)", at: root) }
        let version = try doc.string(versionNode, "version")
        var mode = RulePack.Mode.live
        if let node = top["mode"] {
            let name = try doc.string(node, "mode")
            guard let value = RulePack.Mode(rawValue: name) else { throw doc.error("mode must be live or shadow, got '\(name)'", at: node) }
            mode = value
        }
        var schema = schema
        if let node = top["collections"] { try declareCollections(node, doc, &schema) }
        guard let rulesNode = top["rules"] else { throw doc.error("missing 'rules' (a list of rules)", at: root) }
        var rules: [RulePack.Rule] = []
        let ruleNodes = try doc.sequence(rulesNode, "rules")
        // Counters first: a rule may read one (`today("posts")`) that a later rule counts.
        var counters = Set<String>()
        for node in ruleNodes {
            if case .mapping(let map) = node, let name = map["counter"]?.string { counters.insert(name) }
        }
        for node in ruleNodes {
            let rule = try checkRule(node, doc, schema, counters: counters)
            if rules.contains(where: { $0.id == rule.id }) { throw doc.error("two rules are named '\(rule.id)'", at: node) }
            rules.append(rule)
        }
        var milestones: [Int] = []
        var templates: [String: String] = [:]
        if let node = top["milestones"] {
            let map = try doc.mapping(node, "milestones")
            try doc.rejectUnknownKeys(in: map, allowed: ["levels", "announcement", "announcement_many"], section: "milestones")
            if let levels = map["levels"] {
                for item in try doc.sequence(levels, "milestones.levels") {
                    let level = Int(try doc.int(item, "a milestone level", in: 2...1_000_000))
                    if let last = milestones.last, level <= last {
                        throw doc.error("milestone levels must increase, got \(level) after \(last)", at: item)
                    }
                    milestones.append(level)
                }
            }
            for (key, allowed) in [("announcement", ["handle", "level", "xp", "did"]), ("announcement_many", ["handle", "levels", "level", "xp", "did"])] {
                // {levels} is at most every milestone listed: "5, 10, 25, 50 and 100".
                let names = milestones.map(String.init)
                let levelsLength = max(7, names.joined(separator: ", ").count + 4)
                if let text = map[Node(key)] {
                    templates[key] = try checkTemplate(text, doc, "milestones.\(key)", allowed, lengths: ["levels": levelsLength])
                }
            }
        }
        if let node = top["rankings"] {
            let map = try doc.mapping(node, "rankings")
            try doc.rejectUnknownKeys(in: map, allowed: ["thresholds", "announcement", "announcement_first"], section: "rankings")
            if let list = map["thresholds"] {
                for item in try doc.sequence(list, "rankings.thresholds") { _ = try doc.int(item, "a ranking threshold", in: 1...1_000) }
            }
            for key in ["announcement", "announcement_first"] {
                if let text = map[Node(key)] {
                    templates["rankings." + key] = try checkTemplate(text, doc, "rankings.\(key)", ["handle", "n", "rank", "window", "did"])
                }
            }
        }
        return RulePack(id: id, version: version, mode: mode, rules: rules, milestones: milestones, templates: templates)
    }

    static func isIdentifier(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 64 && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    // MARK: - Rules

    static func checkRule(_ node: Node, _ doc: YAMLDocument, _ schema: Schema, counters: Set<String> = []) throws(Diagnostic) -> RulePack.Rule {
        let map = try doc.mapping(node, "a rule")
        try doc.rejectUnknownKeys(in: map, allowed: ["id", "on", "ops", "when", "xp", "once_per", "counter", "cap", "cooldown", "examples"],
                                  section: "a rule")
        guard let idNode = map["id"] else { throw doc.error("a rule needs an 'id'", at: node) }
        let id = try doc.string(idNode, "rule id")
        guard isIdentifier(id) else { throw doc.error("rule id must be letters, digits, '-' or '_', got '\(id)'", at: idNode) }
        guard let onNode = map["on"] else { throw doc.error("rule '\(id)' needs 'on' (the collection it reacts to)", at: node) }
        var collections: [String] = []
        let onItems: [Node] = (try? doc.sequence(onNode, "on")) ?? [onNode]
        for item in onItems {
            let nsid = try doc.string(item, "a collection NSID")
            guard schema.objects[nsid] != nil else {
                throw doc.error("unknown collection '\(nsid)'; expected one of: \(schema.collections.joined(separator: ", ")), or declare it under collections:", at: item)
            }
            collections.append(nsid)
        }
        var operations = ["create", "update"]
        if let opsNode = map["ops"] {
            operations = []
            for item in try doc.sequence(opsNode, "ops") {
                let op = try doc.string(item, "an operation")
                guard ["create", "update", "delete"].contains(op) else { throw doc.error("operation must be create, update or delete, got '\(op)'", at: item) }
                operations.append(op)
            }
        }
        // `record` has the fields every listed collection has, with the same type.
        var common: [String: ValueType]? = nil
        for nsid in collections {
            let fields = schema.objects[nsid] ?? [:]
            common = common.map { $0.filter { fields[$0.key] == $0.value } } ?? fields
        }
        var scopedSchema = schema
        scopedSchema.objects["record"] = common ?? [:]
        let scope: [String: ValueType] = ["record": .object("record"), "event": .object("event"), "account": .object("account")]
        var checker = TypeChecker(schema: scopedSchema, scope: scope)
        checker.counters = counters
        var condition: Expression?
        if let whenNode = map["when"] {
            condition = try expression(whenNode, doc, checker, expect: .bool, what: "when")
            if ConditionAnalysis.isImpossible(condition!) { throw doc.error("this condition can never be true, so the rule would never fire", at: whenNode) }
        }
        var xp: Expression?
        if let xpNode = map["xp"] { xp = try expression(xpNode, doc, checker, expect: .int, what: "xp") }
        var oncePer: Expression?
        if let node = map["once_per"] { oncePer = try expression(node, doc, checker, expect: .string, what: "once_per") }
        var counter: String?
        if let node = map["counter"] {
            counter = try doc.string(node, "counter")
            guard isIdentifier(counter!) else { throw doc.error("counter name must be letters, digits, '-' or '_'", at: node) }
        }
        var cap: RulePack.Cap?
        if let node = map["cap"] {
            let capMap = try doc.mapping(node, "cap")
            try doc.rejectUnknownKeys(in: capMap, allowed: ["per", "max", "xp", "grants"], section: "cap")
            guard let per = capMap["per"] else { throw doc.error("cap needs per (hour, day or week) and xp: N or grants: N", at: node) }
            let window = try doc.string(per, "cap.per")
            guard ["hour", "day", "week"].contains(window) else { throw doc.error("cap.per must be hour, day or week, got '\(window)'", at: per) }
            var value = RulePack.Cap(per: window)
            // `max` is the XP cap's older spelling.
            if let node = capMap["xp"] ?? capMap["max"] { value.xp = Int(try doc.int(node, "cap.xp", in: 1...1_000_000_000)) }
            if let node = capMap["grants"] { value.grants = Int(try doc.int(node, "cap.grants", in: 1...1_000_000_000)) }
            guard value.xp != nil || value.grants != nil else { throw doc.error("cap needs xp: N (XP per window) or grants: N (grants per window)", at: node) }
            cap = value
        }
        var cooldown: Int?
        if let node = map["cooldown"] {
            let text = try doc.string(node, "cooldown")
            guard let seconds = duration(text) else { throw doc.error("cooldown must be a duration such as 30s, 10m, 2h or 1d, got '\(text)'", at: node) }
            cooldown = seconds
        }
        guard xp != nil || counter != nil else {
            throw doc.error("rule '\(id)' has no effect; expected xp: or counter:", at: idNode)
        }
        if xp == nil, let node = map["cap"] ?? map["cooldown"] ?? map["once_per"] {
            throw doc.error("cap, cooldown and once_per limit XP grants; rule '\(id)' has no xp:", at: node)
        }
        var checkedExamples: [RulePack.Example] = []
        if let examples = map["examples"] {
            for example in try doc.sequence(examples, "examples") {
                checkedExamples.append(try checkExample(example, doc, defaultCollection: collections[0]))
            }
        }
        var rule = RulePack.Rule(id: id, collections: collections, operations: operations, condition: condition, xp: xp,
                                 oncePer: oncePer, counter: counter, cap: cap, cooldownSeconds: cooldown)
        rule.examples = checkedExamples
        return rule
    }

    static func duration(_ text: String) -> Int? {
        guard let unit = text.last, let value = Int(text.dropLast()), value > 0, value <= 100_000_000 else { return nil }
        switch unit {
        case "s": return value
        case "m": return value * 60
        case "h": return value * 3_600
        case "d": return value * 86_400
        default: return nil
        }
    }

    /// Parses and type-checks an expression scalar, mapping errors to the file position.
    static func expression(_ node: Node, _ doc: YAMLDocument, _ checker: TypeChecker, expect: ValueType, what: String) throws(Diagnostic) -> Expression {
        guard case let .scalar(scalar) = node else { throw doc.error("expected an expression (a string) for \(what)", at: node) }
        do throws(ExpressionError) {
            let parsed = try ExpressionParser.parse(scalar.string)
            let type = try checker.check(parsed)
            guard type == expect else {
                throw ExpressionError(offset: 0, message: "\(what) must be \(expect == .int ? "an" : "a") \(expect), got \(type)")
            }
            return parsed.expression
        } catch {
            throw diagnostic(error, in: scalar, node: node, doc)
        }
    }

    /// A diagnostic at the character of a scalar where an expression error is.
    static func diagnostic(_ error: ExpressionError, in scalar: Node.Scalar, node: Node, _ doc: YAMLDocument) -> Diagnostic {
        var located = doc.error(error.message, at: node)
        let text = Array(scalar.string)
        let prefix = text.prefix(min(error.offset, text.count))
        switch scalar.style {
        case .literal, .folded:
            // Block scalars start on the next line, indented.
            let newlines = prefix.filter { $0 == "\n" }.count
            let lastLine = prefix.split(separator: "\n", omittingEmptySubsequences: false).last ?? []
            // The block's indentation is its first content line's; deeper lines keep
            // their extra spaces in the scalar's text.
            let indent = doc.sourceLine(located.line + 1).prefix(while: { $0 == " " }).count
            let line = located.line + 1 + newlines
            return Diagnostic(file: located.file, line: line, column: indent + lastLine.count + 1, message: error.message,
                              sourceLine: doc.sourceLine(line))
        case .singleQuoted, .doubleQuoted:
            located.column += 1 + prefix.count
        default:
            located.column += prefix.count
        }
        return located
    }

    // MARK: - Examples

    /// Reads the examples file of a plugin that is not a pack (a WebAssembly plugin's
    /// `NAME.examples.yaml`, docs/plugins-wasm.md): `collection:` (the default of its
    /// events) and `examples:`, each as in a pack rule.
    public static func checkExamples(text: String, file: String) throws(Diagnostic) -> [RulePack.Example] {
        try preScan(text, file: file)
        let doc = try YAMLDocument(text: text, file: file)
        guard let root = doc.root else {
            throw Diagnostic(file: file, line: 1, column: 1, message: "empty examples file; expected a mapping with collection and examples")
        }
        let top = try doc.mapping(root, "the examples file")
        try doc.rejectUnknownKeys(in: top, allowed: ["collection", "examples"], section: "the examples file")
        guard let collectionNode = top["collection"] else { throw doc.error("missing 'collection' (the default collection of the examples' events)", at: root) }
        let collection = try doc.string(collectionNode, "collection")
        guard let list = top["examples"] else { throw doc.error("missing 'examples' (a list of examples)", at: root) }
        var examples: [RulePack.Example] = []
        for node in try doc.sequence(list, "examples") { examples.append(try checkExample(node, doc, defaultCollection: collection)) }
        return examples
    }

    /// An example: `event:` (one) or `events:` (a sequence) with `expect: {xp: N}`. An
    /// event gives `collection` (default: the rule's), `operation` (create), `did`,
    /// `rkey` and `record`; the rest of the Jetstream envelope is filled in.
    static func checkExample(_ node: Node, _ doc: YAMLDocument, defaultCollection: String) throws(Diagnostic) -> RulePack.Example {
        let map = try doc.mapping(node, "an example")
        try doc.rejectUnknownKeys(in: map, allowed: ["event", "events", "expect"], section: "an example")
        var events: [Node] = []
        if let one = map["event"] { events = [one] }
        if let many = map["events"] { events += try doc.sequence(many, "events") }
        guard !events.isEmpty else { throw doc.error("an example needs event: or events:", at: node) }
        guard let expectNode = map["expect"] else { throw doc.error("an example needs expect: {xp: N}", at: node) }
        let expect = try doc.mapping(expectNode, "expect")
        try doc.rejectUnknownKeys(in: expect, allowed: ["xp"], section: "expect")
        guard let xpNode = expect["xp"] else { throw doc.error("expect needs xp:", at: expectNode) }
        let expectXP = try doc.int(xpNode, "expect.xp")
        var lines: [String] = []
        for (index, event) in events.enumerated() {
            let sequence = index + 1
            let fields = try doc.mapping(event, "an example event")
            try doc.rejectUnknownKeys(in: fields, allowed: ["collection", "operation", "did", "rkey", "record", "at"], section: "an example event")
            // `at: 2h`: the event's time after the example's start (default: a microsecond per event).
            var offsetUS = Int64(sequence)
            if let atNode = fields["at"] {
                let text = try doc.string(atNode, "at")
                guard let seconds = text == "0" ? 0 : duration(text) else {
                    throw doc.error("at must be a duration after the example's start such as 0, 30s, 10m, 2h or 1d, got '\(text)'", at: atNode)
                }
                offsetUS = Int64(seconds) * 1_000_000 + Int64(sequence)
            }
            let collection = try fields["collection"].map { n throws(Diagnostic) in try doc.string(n, "collection") } ?? defaultCollection
            let operation = try fields["operation"].map { n throws(Diagnostic) in try doc.string(n, "operation") } ?? "create"
            guard ["create", "update", "delete"].contains(operation) else {
                throw doc.error("operation must be create, update or delete", at: fields["operation"])
            }
            let did = try fields["did"].map { n throws(Diagnostic) in try doc.string(n, "did") } ?? "did:plc:example00000000000000000"
            let rkey = try fields["rkey"].map { n throws(Diagnostic) in try doc.string(n, "rkey") } ?? exampleTID(sequence)
            var record = "{}"
            if let recordNode = fields["record"] {
                _ = try doc.mapping(recordNode, "record")
                record = json(recordNode, type: collection)
            }
            let recordPart = operation == "delete" ? "" : ",\"record\":\(record),\"cid\":\"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm\""
            lines.append("{\"did\":\(quoted(did)),\"time_us\":\(exampleStartUS + offsetUS),\"kind\":\"commit\",\"commit\":{\"rev\":\"\(exampleTID(sequence))\",\"operation\":\"\(operation)\",\"collection\":\(quoted(collection)),\"rkey\":\(quoted(rkey))\(recordPart)}}")
        }
        return RulePack.Example(lines: lines, expectXP: expectXP, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
    }

    /// Examples start at 2023-11-14T22:13:20Z, a Tuesday, 22:13 UTC.
    static let exampleStartUS: Int64 = 1_700_000_000_000_000

    /// A canonical TID for a small sequence number (revisions must increase).
    static func exampleTID(_ n: Int) -> String {
        let alphabet = Array("234567abcdefghijklmnopqrstuvwxyz")
        let value = (UInt64(1_700_000_000_000_000 + n) << 10)
        return String((0..<13).map { alphabet[Int((value >> UInt64(60 - 5 * $0)) & 31)] })
    }

    /// JSON for a YAML value: plain integers, booleans and null keep their type.
    static func json(_ node: Node, type: String? = nil) -> String {
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain {
                if Int64(scalar.string) != nil { return scalar.string }
                if ["true", "false", "null"].contains(scalar.string) { return scalar.string }
                if scalar.string == "~" { return "null" }
            }
            return quoted(scalar.string)
        case .sequence(let sequence):
            return "[" + sequence.map { json($0) }.joined(separator: ",") + "]"
        case .mapping(let mapping):
            var parts = mapping.map { quoted($0.key.string ?? "") + ":" + json($0.value) }
            if let type, !mapping.contains(where: { $0.key.string == "$type" }) { parts.insert("\"$type\":" + quoted(type), at: 0) }
            return "{" + parts.joined(separator: ",") + "}"
        case .alias:
            return "null"
        }
    }

    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }

    // MARK: - Templates

    /// A template: known placeholders only, and short enough that the longest values
    /// (a 253-character handle, a long DID) still fit in 300 graphemes.
    static func checkTemplate(_ node: Node, _ doc: YAMLDocument, _ what: String, _ allowed: [String],
                              lengths: [String: Int] = [:]) throws(Diagnostic) -> String {
        let text = try doc.string(node, what)
        let longest = ["handle": 254, "did": 200, "level": 7, "levels": 60, "xp": 12, "n": 4, "rank": 4, "window": 5]
            .merging(lengths) { $1 }
        var total = 0
        var current: String?
        for character in text {
            if character == "{" {
                current = ""
            } else if character == "}", let name = current {
                guard allowed.contains(name) else {
                    throw doc.error("unknown placeholder {\(name)} in \(what); expected \(allowed.map { "{\($0)}" }.joined(separator: ", "))", at: node)
                }
                total += longest[name] ?? 0
                current = nil
            } else if current != nil {
                current!.append(character)
            } else {
                total += 1
            }
        }
        if let open = current { throw doc.error("unclosed placeholder {\(open) in \(what)", at: node) }
        guard total <= 300 else {
            throw doc.error("\(what) can reach \(total) graphemes with the longest handle and values; a post allows 300", at: node)
        }
        return text
    }

    // MARK: - Declared collections

    static func declareCollections(_ node: Node, _ doc: YAMLDocument, _ schema: inout Schema) throws(Diagnostic) {
        let map = try doc.mapping(node, "collections")
        for (nsid, keyNode) in doc.keys(of: map) {
            guard nsid.split(separator: ".").count >= 3, nsid.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) else {
                throw doc.error("'\(nsid)' is not a collection NSID (e.g. com.example.thing)", at: keyNode)
            }
            guard schema.objects[nsid] == nil else { throw doc.error("\(nsid) is already known; declare only other collections", at: keyNode) }
            guard let value = map[keyNode] else { continue }
            let declaration = try doc.mapping(value, nsid)
            try doc.rejectUnknownKeys(in: declaration, allowed: ["fields"], section: nsid)
            guard let fieldsNode = declaration["fields"] else { throw doc.error("\(nsid) needs fields:", at: value) }
            var fields: [String: ValueType] = ["$type": .string]
            for (field, fieldNode) in doc.keys(of: try doc.mapping(fieldsNode, "\(nsid).fields")) {
                guard let typeNode = try doc.mapping(fieldsNode, "fields")[fieldNode] else { continue }
                let typeName = try doc.string(typeNode, "a field type")
                guard let type = ValueType.parse(typeName) else {
                    throw doc.error("unknown type '\(typeName)' for \(field); expected string, int, bool, blob, list<…> or a type followed by ?", at: typeNode)
                }
                fields[field] = type
            }
            schema.objects[nsid] = fields
        }
    }

    // MARK: - Before parsing

    /// Refuses what would make the YAML parser or the tree builder misbehave: huge
    /// files, deep nesting (flow brackets or indentation), anchors and aliases (which
    /// can expand exponentially), tabs in indentation.
    static func preScan(_ text: String, file: String) throws(Diagnostic) {
        guard text.utf8.count <= maxBytes else {
            throw Diagnostic(file: file, line: 1, column: 1, message: "rule pack is larger than \(maxBytes / 1024) KB")
        }
        var line = 1
        for source in text.split(separator: "\n", omittingEmptySubsequences: false) {
            defer { line += 1 }
            let indent = source.prefix(while: { $0 == " " }).count
            if indent > maxNesting * 4 {
                throw Diagnostic(file: file, line: line, column: indent + 1, message: "nested more than \(maxNesting) levels deep", sourceLine: String(source))
            }
            var depth = 0
            var quote: Character?
            var column = 0
            var previous: Character = " "
            let characters = Array(source)
            for (index, character) in characters.enumerated() {
                column += 1
                let next: Character = index + 1 < characters.count ? characters[index + 1] : " "
                if let open = quote {
                    if character == open { quote = nil }
                } else if character == "\"" || character == "'" {
                    if previous == " " || previous == "[" || previous == "{" || previous == "," || previous == ":" || column == 1 { quote = character }
                } else if character == "#" && (previous == " " || column == 1) {
                    break
                } else if character == "[" || character == "{" {
                    depth += 1
                    if depth > maxNesting {
                        throw Diagnostic(file: file, line: line, column: column, message: "nested more than \(maxNesting) levels deep", sourceLine: String(source))
                    }
                } else if character == "]" || character == "}" {
                    depth = max(0, depth - 1)
                } else if (character == "&" || character == "*") && (previous == " " || previous == "[" || previous == "," || column == 1)
                            && (next.isLetter || next.isNumber || next == "_") {
                    throw Diagnostic(file: file, line: line, column: column, message: "anchors and aliases (& and *) are not allowed in rule packs; write the value out", sourceLine: String(source))
                }
                previous = character
            }
        }
    }
}

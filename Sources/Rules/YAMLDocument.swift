import Yams

/// A parsed YAML file whose values are read with types checked and every mistake
/// reported as a ``Diagnostic`` at the node's own line and column.
///
/// Readers consume keys as they go; ``rejectUnknownKeys(in:)`` then reports any key
/// that nothing read, so a typo (`milestone:` for `milestones:`) is refused instead of
/// silently ignored.
public struct YAMLDocument {
    /// The file name used in diagnostics.
    public let file: String
    /// The root node (`nil` for an empty file).
    public let root: Node?
    private let lines: [Substring]

    /// Parses `text`; a syntax error becomes a diagnostic at the parser's position.
    public init(text: String, file: String) throws(Diagnostic) {
        self.file = file
        lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw Self.diagnostic(for: error, file: file, lines: text.split(separator: "\n", omittingEmptySubsequences: false))
        } catch {
            throw Diagnostic(file: file, line: 1, column: 1, message: "cannot parse YAML: \(error)")
        }
    }

    private static func diagnostic(for error: YamlError, file: String, lines: [Substring]) -> Diagnostic {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _):
            let line = max(1, mark.line)
            let text = line <= lines.count ? String(lines[line - 1]) : ""
            let what = context.map { "\($0.text) \(problem)" } ?? problem
            return Diagnostic(file: file, line: line, column: max(1, mark.column), message: "invalid YAML: \(what)", sourceLine: text)
        default:
            return Diagnostic(file: file, line: 1, column: 1, message: "invalid YAML: \(error)")
        }
    }

    /// A line of the source (1-based), for snippets; empty when out of range.
    public func sourceLine(_ line: Int) -> String {
        line >= 1 && line <= lines.count ? String(lines[line - 1]) : ""
    }

    /// A diagnostic located at `node`.
    public func error(_ message: String, at node: Node?) -> Diagnostic {
        let line = node?.mark?.line ?? 1
        let column = node?.mark?.column ?? 1
        let text = line >= 1 && line <= lines.count ? String(lines[line - 1]) : ""
        return Diagnostic(file: file, line: line, column: column, message: message, sourceLine: text)
    }

    /// The mapping at `node`, or a diagnostic naming what was expected.
    public func mapping(_ node: Node, _ what: String) throws(Diagnostic) -> Node.Mapping {
        guard case let .mapping(mapping) = node else { throw error("expected a mapping for \(what)", at: node) }
        return mapping
    }

    /// An integer scalar within `range`.
    public func int(_ node: Node, _ what: String, in range: ClosedRange<Int64> = Int64.min...Int64.max) throws(Diagnostic) -> Int64 {
        guard case let .scalar(scalar) = node, let value = Int64(scalar.string) else {
            throw error("expected an integer for \(what)", at: node)
        }
        guard range.contains(value) else {
            throw error("\(what) must be between \(range.lowerBound) and \(range.upperBound), got \(value)", at: node)
        }
        return value
    }

    /// A boolean scalar (`true`/`false`, also `yes`/`no`, `on`/`off`).
    public func bool(_ node: Node, _ what: String) throws(Diagnostic) -> Bool {
        if case let .scalar(scalar) = node {
            switch scalar.string.lowercased() {
            case "true", "yes", "on": return true
            case "false", "no", "off": return false
            default: break
            }
        }
        throw error("expected true or false for \(what)", at: node)
    }

    /// A string scalar.
    public func string(_ node: Node, _ what: String) throws(Diagnostic) -> String {
        guard case let .scalar(scalar) = node else { throw error("expected a string for \(what)", at: node) }
        return scalar.string
    }

    /// A sequence of nodes.
    public func sequence(_ node: Node, _ what: String) throws(Diagnostic) -> [Node] {
        guard case let .sequence(sequence) = node else { throw error("expected a list for \(what)", at: node) }
        return Array(sequence)
    }

    /// The keys of `mapping`, each with its key node, for unknown-key checks.
    public func keys(of mapping: Node.Mapping) -> [(String, Node)] {
        mapping.map { ($0.key.string ?? "", $0.key) }
    }

    /// Refuses any key of `mapping` not in `allowed`, naming the allowed ones.
    public func rejectUnknownKeys(in mapping: Node.Mapping, allowed: [String], section: String) throws(Diagnostic) {
        for (key, node) in keys(of: mapping) where !allowed.contains(key) {
            throw error("unknown key '\(key)' in \(section); expected one of: \(allowed.joined(separator: ", "))", at: node)
        }
    }
}

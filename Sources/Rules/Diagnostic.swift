/// A problem found in a user's file (a config or a rule pack), located precisely
/// enough to fix without guessing.
///
/// Its description reads like a compiler's: `file:line:col: error: message`, the
/// offending source line, and a caret under the column.
public struct Diagnostic: Error, Sendable, CustomStringConvertible, Equatable {
    /// Path of the file as the user gave it.
    public var file: String
    /// 1-based line.
    public var line: Int
    /// 1-based column.
    public var column: Int
    /// What is wrong and what was expected.
    public var message: String
    /// The source line, for the snippet (empty when unknown).
    public var sourceLine: String

    public init(file: String, line: Int, column: Int, message: String, sourceLine: String = "") {
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.sourceLine = sourceLine
    }

    public var description: String {
        var text = "\(file):\(line):\(column): error: \(message)"
        if !sourceLine.isEmpty {
            // A very long line is shown as a window around the column.
            var shown = Array(sourceLine)
            var caret = max(0, column - 1)
            if shown.count > 160 {
                let start = max(0, min(caret - 60, shown.count - 120))
                shown = Array(shown[start..<min(shown.count, start + 120)])
                caret -= start
            }
            text += "\n    \(String(shown))\n    \(String(repeating: " ", count: max(0, caret)))^"
        }
        return text
    }
}

import Foundation

/// Secrets kept in files (an app password, the admin token, the labeler's key): read only
/// when no one but the owner can read the file (mode 0600), and never part of an error.
public enum OwnerOnlyFile {
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// The trimmed content of `file`, refused unless only its owner can read it and unless it
    /// holds something. `what` names it in errors ("admin token file").
    public static func read(_ file: String, what: String) throws(Problem) -> String {
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: file) } catch {
            throw Problem(description: "cannot read the \(what) \(file)")
        }
        let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
        guard mode & 0o077 == 0 else {
            throw Problem(description: "\(file) is readable by others (mode \(String(mode, radix: 8))); chmod 600 it")
        }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw Problem(description: "cannot read \(file)") }
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !value.isEmpty else { throw Problem(description: "\(file) is empty") }
        return value
    }
}

import XRPCClient
import ArgumentParser
import Foundation

/// The admin API's bearer token: from `BOTHOST_ADMIN_TOKEN`, or a file only its owner can
/// read (mode 0600). Never printed.
enum AdminToken {
    static func load(file: String?) throws -> String? {
        let token = try file.map { try readOwnerOnlyFile($0, what: "admin token file") } ?? ProcessInfo.processInfo.environment["BOTHOST_ADMIN_TOKEN"] ?? ""
        Redact.register(token)
        return token.isEmpty ? nil : token
    }
}

/// The trimmed content of a secret file (a token, an app password), refused unless only
/// its owner can read it (mode 0600) and unless it holds something. The content is never
/// part of an error.
func readOwnerOnlyFile(_ file: String, what: String) throws -> String {
    let attributes: [FileAttributeKey: Any]
    do { attributes = try FileManager.default.attributesOfItem(atPath: file) } catch {
        throw CLIError("cannot read the \(what) \(file)")
    }
    let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
    guard mode & 0o077 == 0 else {
        throw CLIError("\(file) is readable by others (mode \(String(mode, radix: 8))); chmod 600 it")
    }
    guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw CLIError("cannot read \(file)") }
    let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !value.isEmpty else { throw CLIError("\(file) is empty") }
    return value
}

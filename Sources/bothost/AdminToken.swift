import ArgumentParser
import Foundation

/// The admin API's bearer token: from `BOTHOST_ADMIN_TOKEN`, or a file only its owner can
/// read (mode 0600). Never printed.
enum AdminToken {
    static func load(file: String?) throws -> String? {
        if let file {
            let attributes = try FileManager.default.attributesOfItem(atPath: file)
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
            guard mode & 0o077 == 0 else {
                throw CLIError("\(file) is readable by others (mode \(String(mode, radix: 8))); chmod 600 it")
            }
            let token = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw CLIError("\(file) is empty") }
            return token
        }
        let token = ProcessInfo.processInfo.environment["BOTHOST_ADMIN_TOKEN"] ?? ""
        return token.isEmpty ? nil : token
    }
}

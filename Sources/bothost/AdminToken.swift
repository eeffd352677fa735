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

/// A secret file's content (``OwnerOnlyFile``), its refusal as the CLI's error.
func readOwnerOnlyFile(_ file: String, what: String) throws -> String {
    do { return try OwnerOnlyFile.read(file, what: what) } catch { throw CLIError(error.description) }
}

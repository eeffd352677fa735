import Foundation
import XRPCClient

/// Where the labeler's private key comes from: a file only its owner can read (mode 0600),
/// or `BOTHOST_LABELER_KEY`; either holds 64 hex digits (P-256), or `secp256k1:` and 64 hex
/// digits. The key is never printed or logged; errors
/// name the file, never its content.
public enum LabelerKey {
    public static let environmentVariable = "BOTHOST_LABELER_KEY"

    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// The signer from `file`, else from the environment.
    public static func load(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws(Problem) -> LabelSigner {
        let text: String
        let origin: String
        if let file {
            do { text = try OwnerOnlyFile.read(file, what: "labeler key file") } catch { throw Problem(description: error.description) }
            origin = file
        } else if let value = environment[environmentVariable], !value.isEmpty {
            text = value
            origin = "$" + environmentVariable
        } else {
            throw Problem(description: "no labeler key: set labeler.key_file (a mode 0600 file; `bothost labeler key --out FILE` makes one) or \(environmentVariable)")
        }
        let hex = text.trimmingCharacters(in: .whitespacesAndNewlines)
        Redact.register(hex)
        // The key itself too, without a curve prefix, wherever it would appear.
        if let colon = hex.lastIndex(of: ":") { Redact.register(String(hex[hex.index(after: colon)...])) }
        guard let signer = LabelSigner(hex: hex) else {
            throw Problem(description: "\(origin) does not hold a private key (64 hex digits for P-256, or secp256k1: and 64 hex digits)")
        }
        return signer
    }

    /// Writes a new key to `path` with mode 0600 (refusing to replace a file) and returns it.
    public static func create(at path: String, curve: LabelSigner.Curve = .p256) throws(Problem) -> LabelSigner {
        let signer = LabelSigner(curve: curve)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            throw Problem(description: errno == EEXIST ? "\(path) exists; refusing to replace a key" : "cannot create \(path)")
        }
        defer { close(fd) }
        let bytes = Array((signer.hexPrivateKey + "\n").utf8)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw Problem(description: "cannot write \(path)")
        }
        return signer
    }
}

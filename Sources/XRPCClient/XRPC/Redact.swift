import Foundation
import Synchronization

/// Takes secrets out of text before it reaches a log line, an error message or an HTTP
/// body: JSON Web Tokens (a PDS may echo the session's), `Bearer` credentials, passwords
/// in URLs (`postgres://user:password@…`), app-password-shaped strings, and every value
/// registered with ``register(_:)`` (the app password, the admin token) wherever it shows up.
public enum Redact {
    private static let known = Mutex<[String]>([])

    /// Registers a secret value: it is replaced wherever it appears from now on.
    public static func register(_ secret: String) {
        guard secret.count >= 4 else { return }
        known.withLock { if !$0.contains(secret) { $0.append(secret) } }
    }

    /// `text` with every secret replaced by `[redacted]`.
    public static func secrets(in text: String) -> String {
        var out = text
        for secret in known.withLock({ $0 }) where out.contains(secret) {
            out = out.replacingAll(secret, with: "[redacted]")
        }
        out = replaceTokens(out)
        return out
    }

    /// One pass over the bytes for the shapes of secrets.
    private static func replaceTokens(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var index = 0
        func isTokenByte(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || byte == 0x2D || byte == 0x5F || byte == 0x2E
                || byte == 0x2B || byte == 0x2F || byte == 0x3D
        }
        let redacted = Array("[redacted]".utf8)
        while index < bytes.count {
            // A JWT: "eyJ" followed by base64url and dots.
            if bytes[index] == 0x65, index + 3 <= bytes.count, bytes[index..<index + 3].elementsEqual("eyJ".utf8) {
                var end = index
                while end < bytes.count, isTokenByte(bytes[end]) { end += 1 }
                if end - index >= 16 {
                    out += redacted
                    index = end
                    continue
                }
            }
            // "Bearer <token>" (any case).
            if index + 7 <= bytes.count, bytes[index..<index + 7].map({ $0 | 0x20 }).elementsEqual("bearer ".utf8) {
                out += bytes[index..<index + 7]
                var end = index + 7
                while end < bytes.count, isTokenByte(bytes[end]) { end += 1 }
                if end > index + 7 { out += redacted } 
                index = end
                continue
            }
            // "://user:password@": the password goes.
            if bytes[index] == 0x3A, index + 3 <= bytes.count, bytes[index + 1] == 0x2F, bytes[index + 2] == 0x2F {
                var end = index + 3
                while end < bytes.count, bytes[end] != 0x2F, bytes[end] != 0x40, bytes[end] != 0x20 { end += 1 }
                if end < bytes.count, bytes[end] == 0x40, let colon = bytes[(index + 3)..<end].firstIndex(of: 0x3A) {
                    out += bytes[index...colon]
                    out += Array("***".utf8)
                    index = end
                    continue
                }
            }
            // An app password: xxxx-xxxx-xxxx-xxxx (lowercase letters and digits).
            if index + 19 <= bytes.count, (index == 0 || !isTokenByte(bytes[index - 1])), isAppPassword(bytes[index..<index + 19]),
               index + 19 == bytes.count || !isTokenByte(bytes[index + 19]) {
                out += redacted
                index += 19
                continue
            }
            out.append(bytes[index])
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isAppPassword(_ bytes: ArraySlice<UInt8>) -> Bool {
        for (offset, byte) in bytes.enumerated() {
            if offset % 5 == 4 {
                guard byte == 0x2D else { return false }
            } else {
                guard (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x7A) else { return false }
            }
        }
        return true
    }
}

extension String {
    fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.range(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}

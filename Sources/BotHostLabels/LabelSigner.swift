import BotHost
import Crypto

/// The labeler's P-256 key: signs labels as the atproto spec says (SHA-256 of the unsigned
/// label's DAG-CBOR, ECDSA, the 64-byte compact signature with a low S) and names itself as
/// a `did:key`. The private key comes from a 0600 file or the environment and is never
/// printed: only the public `did:key` is.
public struct LabelSigner: Sendable {
    private let key: P256.Signing.PrivateKey

    /// A new random key.
    public init() { key = P256.Signing.PrivateKey() }

    /// A key from its 32 raw bytes, as 64 hex digits.
    public init?(hex: String) {
        let text = hex.filter { !$0.isWhitespace }
        guard text.count == 64, let bytes = Self.bytes(fromHex: text), let key = try? P256.Signing.PrivateKey(rawRepresentation: bytes) else { return nil }
        self.key = key
    }

    /// The private key as 64 hex digits, for writing to a 0600 file (never to a log).
    public var hexPrivateKey: String { key.rawRepresentation.map { String($0, radix: 16).leftPadded(2) }.joined() }

    /// `did:key:zDn…`: the multibase (base58btc) of the p256-pub multicodec (0x1200) and
    /// the compressed public point.
    public var didKey: String { "did:key:" + multikey }

    /// The public key as a multikey (`zDn…`), for the labeler's DID document.
    public var multikey: String {
        let point = key.publicKey.compressedRepresentation
        return "z" + Base58.encode([0x80, 0x24] + Array(point))
    }

    /// Signs a label (replacing any signature it had).
    public func sign(_ label: Label) throws -> Label {
        var signed = label
        signed.sig = try signature(for: label.unsignedCBOR)
        return signed
    }

    /// Whether `label` carries this key's signature over its unsigned bytes, with a low S
    /// (what a consumer checks; the tests check every label issued).
    public func isValidSignature(_ label: Label) -> Bool {
        guard let sig = label.sig, sig.count == 64, Self.lowS(sig) == sig,
              let signature = try? P256.Signing.ECDSASignature(rawRepresentation: sig) else { return false }
        return key.publicKey.isValidSignature(signature, for: SHA256.hash(data: label.unsignedCBOR))
    }

    /// The compact, low-S signature of SHA-256(`data`).
    public func signature(for data: [UInt8]) throws -> [UInt8] {
        let raw = Array(try key.signature(for: SHA256.hash(data: data)).rawRepresentation)
        return Self.lowS(raw)
    }

    /// Replaces S by n − S when S is in the upper half of the group order: both verify,
    /// and atproto accepts only the low one (no malleable signatures).
    static func lowS(_ signature: [UInt8]) -> [UInt8] {
        precondition(signature.count == 64)
        let s = Array(signature[32...])
        guard s.lexicographicallyPrecedes(halfOrder) == false, s != halfOrder else { return signature }
        var out = [UInt8](repeating: 0, count: 32)
        var borrow = 0
        for i in (0..<32).reversed() {
            var d = Int(order[i]) - Int(s[i]) - borrow
            borrow = d < 0 ? 1 : 0
            if d < 0 { d += 256 }
            out[i] = UInt8(d)
        }
        return Array(signature[..<32]) + out
    }

    /// The order n of P-256, and n / 2.
    static let order: [UInt8] = bytes(fromHex: "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")!
    static let halfOrder: [UInt8] = bytes(fromHex: "7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8")!

    static func bytes(fromHex text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        while !chars.isEmpty {
            guard let byte = UInt8(String(decoding: chars.prefix(2), as: UTF8.self), radix: 16) else { return nil }
            out.append(byte)
            chars.removeFirst(2)
        }
        return out
    }
}

/// Base58 (Bitcoin alphabet), for multibase `z` strings.
enum Base58 {
    static let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var digits: [UInt8] = []  // little-endian base-58 digits
        for byte in bytes {
            var carry = Int(byte)
            for i in digits.indices {
                carry += Int(digits[i]) << 8
                digits[i] = UInt8(carry % 58)
                carry /= 58
            }
            while carry > 0 { digits.append(UInt8(carry % 58)); carry /= 58 }
        }
        let zeros = bytes.prefix { $0 == 0 }.count
        return String(decoding: Array(repeating: alphabet[0], count: zeros) + digits.reversed().map { alphabet[Int($0)] }, as: UTF8.self)
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}

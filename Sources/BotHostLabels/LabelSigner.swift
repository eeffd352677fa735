import BotHost
import CSecp256k1
import Crypto

/// The labeler's key, P-256 or secp256k1 (the two curves atproto signs with): signs labels
/// as the atproto spec says (SHA-256 of the unsigned label's DAG-CBOR, ECDSA, the 64-byte
/// compact signature with a low S) and names itself as a `did:key`. The private key comes
/// from a 0600 file or the environment and is never printed: only the public `did:key` is.
///
/// P-256 signs through swift-crypto; secp256k1 through libsecp256k1 (deterministic RFC 6979
/// nonces, low S by construction), which is what an ozone labeler's key is.
public struct LabelSigner: Sendable {
    public enum Curve: String, Sendable, CaseIterable {
        case p256, secp256k1
    }

    public let curve: Curve
    private let p256: P256.Signing.PrivateKey?
    private let secret: [UInt8]

    /// A new random key.
    public init(curve: Curve = .p256) {
        self.curve = curve
        switch curve {
        case .p256:
            let key = P256.Signing.PrivateKey()
            p256 = key
            secret = Array(key.rawRepresentation)
        case .secp256k1:
            p256 = nil
            var bytes = [UInt8](repeating: 0, count: 32)
            repeat {
                for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
            } while secp256k1_ec_seckey_verify(Secp256k1Context.shared.pointer, bytes) != 1
            secret = bytes
        }
    }

    /// A key as its 32 raw bytes in 64 hex digits: P-256 unless prefixed `secp256k1:`
    /// (`p256:` may be written too).
    public init?(hex: String) {
        var text = hex.filter { !$0.isWhitespace }
        var curve = Curve.p256
        for candidate in Curve.allCases where text.lowercased().hasPrefix(candidate.rawValue + ":") {
            curve = candidate
            text.removeFirst(candidate.rawValue.count + 1)
        }
        guard text.count == 64, let bytes = Self.bytes(fromHex: text) else { return nil }
        self.curve = curve
        switch curve {
        case .p256:
            guard let key = try? P256.Signing.PrivateKey(rawRepresentation: bytes) else { return nil }
            p256 = key
        case .secp256k1:
            guard secp256k1_ec_seckey_verify(Secp256k1Context.shared.pointer, bytes) == 1 else { return nil }
            p256 = nil
        }
        secret = bytes
    }

    /// The private key for a 0600 file (never for a log): 64 hex digits, prefixed with
    /// `secp256k1:` for that curve.
    public var hexPrivateKey: String {
        let hex = secret.map { String($0, radix: 16).leftPadded(2) }.joined()
        return curve == .p256 ? hex : "secp256k1:" + hex
    }

    /// `did:key:zDn…` (P-256) or `did:key:zQ3s…` (secp256k1): the multibase (base58btc) of
    /// the multicodec (p256-pub 0x1200, secp256k1-pub 0xe7) and the compressed public point.
    public var didKey: String { "did:key:" + multikey }

    /// The public key as a multikey, for the labeler's DID document.
    public var multikey: String {
        switch curve {
        case .p256: "z" + Base58.encode([0x80, 0x24] + Array(p256!.publicKey.compressedRepresentation))
        case .secp256k1: "z" + Base58.encode([0xE7, 0x01] + Self.secp256k1PublicKey(secret))
        }
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
        guard let sig = label.sig, sig.count == 64 else { return false }
        let digest = Array(SHA256.hash(data: label.unsignedCBOR))
        switch curve {
        case .p256:
            guard Self.lowS(sig) == sig, let signature = try? P256.Signing.ECDSASignature(rawRepresentation: sig) else { return false }
            return p256!.publicKey.isValidSignature(signature, for: SHA256.hash(data: label.unsignedCBOR))
        case .secp256k1:
            let context = Secp256k1Context.shared.pointer
            var parsed = secp256k1_ecdsa_signature()
            var key = secp256k1_pubkey()
            // libsecp256k1 accepts only low-S signatures, as atproto does.
            guard secp256k1_ecdsa_signature_parse_compact(context, &parsed, sig) == 1,
                  secp256k1_ec_pubkey_create(context, &key, secret) == 1 else { return false }
            return secp256k1_ecdsa_verify(context, &parsed, digest, &key) == 1
        }
    }

    /// The compact, low-S signature of SHA-256(`data`).
    public func signature(for data: [UInt8]) throws -> [UInt8] {
        switch curve {
        case .p256:
            let raw = Array(try p256!.signature(for: SHA256.hash(data: data)).rawRepresentation)
            return Self.lowS(raw)
        case .secp256k1:
            let context = Secp256k1Context.shared.pointer
            let digest = Array(SHA256.hash(data: data))
            var signature = secp256k1_ecdsa_signature()
            var out = [UInt8](repeating: 0, count: 64)
            guard secp256k1_ecdsa_sign(context, &signature, digest, secret, nil, nil) == 1,
                  secp256k1_ecdsa_signature_serialize_compact(context, &out, &signature) == 1 else {
                throw LabelSigningError()
            }
            return out
        }
    }

    private static func secp256k1PublicKey(_ secret: [UInt8]) -> [UInt8] {
        let context = Secp256k1Context.shared.pointer
        var key = secp256k1_pubkey()
        var out = [UInt8](repeating: 0, count: 33)
        var length = 33
        guard secp256k1_ec_pubkey_create(context, &key, secret) == 1,
              secp256k1_ec_pubkey_serialize(context, &out, &length, &key, UInt32(SECP256K1_EC_COMPRESSED)) == 1 else { return [] }
        return out
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

/// A signature libsecp256k1 refused to make (only for an invalid key, which `init` refuses).
public struct LabelSigningError: Error {}

/// One libsecp256k1 context for the process: created once, then only read (signing and
/// verifying with a context are safe from several threads).
final class Secp256k1Context: @unchecked Sendable {
    static let shared = Secp256k1Context()
    let pointer: OpaquePointer

    private init() {
        pointer = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_NONE))!
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

import BotHost
import BotHostLabels
import Foundation
import Testing

/// Labels signed by BotHost, checked by an independent implementation: the atproto SDK
/// verifies each signature against the did:key, and libipld re-encodes each unsigned label
/// (Tests/interop/verify_labels.py, in the .venv that `make test` installs).
@Suite struct LabelSigningTests {
    static let python = Fixtures.packageRoot.appendingPathComponent(".venv/bin/python").path

    @Test func dagCBORIsCanonical() {
        // Keys by length, then bytewise; shortest integer heads.
        let map = DAGCBOR.map([("val", .text("a")), ("cts", .text("b")), ("ver", .int(1)), ("neg", .bool(true)), ("sig", .bytes([1, 2]))])
        #expect(map.encoded() == [0xA5, 0x63, 0x63, 0x74, 0x73, 0x61, 0x62, 0x63, 0x6E, 0x65, 0x67, 0xF5,
                                  0x63, 0x73, 0x69, 0x67, 0x42, 0x01, 0x02, 0x63, 0x76, 0x61, 0x6C, 0x61, 0x61, 0x63, 0x76, 0x65, 0x72, 0x01])
        #expect(DAGCBOR.int(23).encoded() == [0x17] && DAGCBOR.int(24).encoded() == [0x18, 24] && DAGCBOR.int(-1).encoded() == [0x20])
        #expect(DAGCBOR.int(1_000_000).encoded() == [0x1A, 0x00, 0x0F, 0x42, 0x40])
        #expect(DAGCBOR.text(String(repeating: "x", count: 300)).encoded().prefix(3) == [0x79, 0x01, 0x2C])
    }

    @Test(arguments: LabelSigner.Curve.allCases)
    func lowSIsEnforced(_ curve: LabelSigner.Curve) throws {
        let signer = LabelSigner(curve: curve)
        // Many signatures: each S is at most n/2, and all verify independently (below).
        for n in 0..<64 {
            let sig = try signer.signature(for: Array("message \(n)".utf8))
            #expect(sig.count == 64)
            #expect(sig[32] < 0x80, "S in the upper half")
        }
    }

    @Test func keysRoundTripThroughTheirFileForm() throws {
        for curve in LabelSigner.Curve.allCases {
            let signer = LabelSigner(curve: curve)
            let again = try #require(LabelSigner(hex: signer.hexPrivateKey))
            #expect(again.curve == curve && again.didKey == signer.didKey)
            let label = try signer.sign(Label(src: "did:plc:x", uri: "did:plc:y", val: "level-five", cts: "2026-12-04T00:00:00.000Z"))
            #expect(again.isValidSignature(label))
            var tampered = label
            tampered.val = "level-six"
            #expect(!again.isValidSignature(tampered))
        }
        #expect(LabelSigner(curve: .p256).didKey.hasPrefix("did:key:zDn"))
        #expect(LabelSigner(curve: .secp256k1).didKey.hasPrefix("did:key:zQ3s"))
        #expect(LabelSigner(hex: "secp256k1:" + String(repeating: "0", count: 64)) == nil)  // zero is no key
        #expect(LabelSigner(hex: "ed25519:" + String(repeating: "1", count: 64)) == nil)
        #expect(LabelSigner(hex: String(repeating: "1", count: 63)) == nil)
        // A known secp256k1 key and its did:key (secret 1: the generator point).
        #expect(LabelSigner(hex: "secp256k1:" + String(repeating: "0", count: 63) + "1")?.didKey
                == "did:key:zQ3shVc2UkAfJCdc1TR8E66J85h48P43r93q8jGPkPpjF9Ef9")
    }

    @Test(arguments: LabelSigner.Curve.allCases)
    func signaturesVerifyWithTheAtprotoSDK(_ curve: LabelSigner.Curve) throws {
        let signer = LabelSigner(curve: curve)
        #expect(signer.didKey.hasPrefix(curve == .p256 ? "did:key:zDn" : "did:key:zQ3s"))
        let src = "did:plc:bothostbot0000000000000000"
        let cts = Label.timestamp(1_796_083_200_123_456)
        #expect(cts == "2026-12-01T00:00:00.123Z")
        var labels = [
            Label(src: src, uri: "did:plc:alice0000000000000000000", val: "level-10", cts: cts),
            Label(src: src, uri: "did:plc:alice0000000000000000000", val: "level-5", neg: true, cts: cts),
            Label(src: src, uri: "at://did:plc:alice0000000000000000000/app.bsky.feed.post/3kabcdefghij2",
                  cid: "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm", val: "level-25", cts: cts,
                  exp: "2027-01-01T00:00:00.000Z"),
            Label(src: src, uri: "did:plc:bob00000000000000000000000", val: "niveau-élevé-☃", cts: cts),
            Label(src: src, uri: "did:web:example.com", val: String(repeating: "v", count: 128), cts: cts),
        ]
        labels = try labels.map { try signer.sign($0) }
        let file = makeTemporaryDirectory().appendingPathComponent("labels.jsonl")
        var lines = ""
        for label in labels {
            var object: [String: Any] = ["ver": 1, "src": label.src, "uri": label.uri, "val": label.val, "cts": label.cts]
            if let cid = label.cid { object["cid"] = cid }
            if label.neg { object["neg"] = true }
            if let exp = label.exp { object["exp"] = exp }
            let line: [String: Any] = ["did_key": signer.didKey, "label": object,
                                       "cbor_hex": label.unsignedCBOR.map { String(format: "%02x", $0) }.joined(),
                                       "sig_b64": Data(label.sig ?? []).base64EncodedString()]
            lines += String(decoding: try JSONSerialization.data(withJSONObject: line), as: UTF8.self) + "\n"
        }
        try lines.write(to: file, atomically: true, encoding: .utf8)
        func verify(_ path: URL) throws -> (Int32, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.python)
            process.arguments = [Fixtures.packageRoot.appendingPathComponent("Tests/interop/verify_labels.py").path, path.path]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, output)
        }
        let (status, output) = try verify(file)
        #expect(status == 0, "\(output)")
        #expect(output.contains("labels: 5 passed, 0 failed"), "\(output)")
        // The checker can fail: a label whose value changed after signing is refused.
        let tamperedFile = file.deletingLastPathComponent().appendingPathComponent("tampered.jsonl")
        try lines.replacingOccurrences(of: "\"level-10\"", with: "\"level-11\"").write(to: tamperedFile, atomically: true, encoding: .utf8)
        let (badStatus, badOutput) = try verify(tamperedFile)
        #expect(badStatus == 1 && badOutput.contains("labels: 4 passed, 1 failed"), "\(badOutput)")
    }
}

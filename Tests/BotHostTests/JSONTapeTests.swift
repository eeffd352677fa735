import BotHost
import Synchronization
import Testing

extension UnsafeMutableRawBufferPointer: @retroactive @unchecked Sendable {}

struct JSONTapeTests {
    /// Parses `text` into a tape over a copy of its bytes that outlives the test.
    private func parse(_ text: String) throws -> JSONTape {
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, text.utf8.count), alignment: 8)
        bytes.copyBytes(from: Array(text.utf8))
        Self.keepAlive.withLock { $0.append(bytes) }
        let tape = JSONTape()
        try tape.parse(UnsafeRawBufferPointer(rebasing: bytes[0..<text.utf8.count]))
        return tape
    }

    private static let keepAlive = Mutex<[UnsafeMutableRawBufferPointer]>([])

    private func error(_ text: String) -> JSONSyntaxError? {
        do {
            _ = try parse(text)
            return nil
        } catch let error as JSONSyntaxError {
            return error
        } catch {
            return nil
        }
    }

    @Test func readsNestedValues() throws {
        let tape = try parse(#"{"a":{"b":[1,-2,3.5e2,true,false,null,"x"]},"c":"d"}"#)
        let b = tape.root["a"]["b"]
        #expect(b.kind == .array)
        #expect(b.count == 7)
        let items = Array(b.elements)
        #expect(items[0].int64 == 1)
        #expect(items[1].int64 == -2)
        #expect(items[2].kind == .number)
        #expect(items[2].int64 == nil)
        #expect(items[3].bool == true)
        #expect(items[4].bool == false)
        #expect(items[5].kind == .null)
        #expect(items[6].string == "x")
        #expect(tape.root["c"].string == "d")
        #expect(!tape.root["missing"]["deeper"].exists)
        #expect(tape.root["c"]["not-an-object"].string == nil)
    }

    @Test func decodesEscapes() throws {
        let tape = try parse(#"{"s":"a\u0026b \"q\" \\ \/ \n\t é \ud83d\ude00 \u00e9 \ud800x"}"#)
        #expect(tape.root["s"].string == "a&b \"q\" \\ / \n\t é 😀 é \u{FFFD}x")
        #expect(tape.root["s"].unescapedBytes == nil)
    }

    @Test func matchesEscapedKeys() throws {
        let tape = try parse(#"{"\u0024type":"app.bsky.embed.images"}"#)
        #expect(tape.root["$type"].stringEquals("app.bsky.embed.images"))
    }

    @Test func firstDuplicateKeyWins() throws {
        let tape = try parse(#"{"k":1,"k":2}"#)
        #expect(tape.root["k"].int64 == 1)
    }

    @Test func longStringsScanWordAtATime() throws {
        let long = String(repeating: "abcdefgh", count: 100) + "\\\"" + String(repeating: "é", count: 50)
        let tape = try parse("[\"\(long)\"]")
        #expect(tape.root.elements.first(where: { _ in true })?.string == String(repeating: "abcdefgh", count: 100) + "\"" + String(repeating: "é", count: 50))
    }

    @Test func detectsNonBlankAltText() throws {
        let tape = try parse(#"["", "  ", "\n\t", "\u3000", " x ", "\u00a0", "日本", "\u200b"]"#)
        let values = tape.root.elements.map(\.isNonBlankString)
        #expect(values == [false, false, false, false, true, false, true, true])
    }

    @Test func integerOverflowIsNotAnInteger() throws {
        let parsed = try parse(#"[9223372036854775807, 9223372036854775808, -9223372036854775807]"#)
        let items = Array(parsed.root.elements)
        #expect(items[0].int64 == Int64.max)
        #expect(items[1].int64 == nil)
        #expect(items[2].int64 == -Int64.max)
    }

    @Test func rejectsMalformedDocuments() {
        let cases: [(String, JSONSyntaxError.Reason)] = [
            ("", .empty),
            ("{", .truncated),
            (#"{"a":1"#, .truncated),
            (#"{"a":"unterminated"#, .truncated),
            (#"{"a":1,}"#, .expectedKey),
            (#"{"a" 1}"#, .expectedColon),
            (#"{"a":1 "b":2}"#, .expectedCommaOrEnd),
            (#"[1,2"#, .truncated),
            (#"[1 2]"#, .expectedCommaOrEnd),
            (#"{"a":tru}"#, .badLiteral),
            (#"{"a":01}"#, .expectedCommaOrEnd),
            (#"{"a":-}"#, .badNumber),
            (#"{"a":1.}"#, .badNumber),
            (#"{"a":1e}"#, .badNumber),
            (#"{"a":"\x"}"#, .badEscape),
            (#"{"a":"\u12g4"}"#, .badEscape),
            ("{\"a\":\"tab\there\"}", .controlCharacter),
            (#"{"a":1} x"#, .trailingData),
            (#"{"a":1}{"b":2}"#, .trailingData),
            (#"{'a':1}"#, .expectedKey),
            (#"[+1]"#, .unexpectedByte),
            (String(repeating: "[", count: 600) + String(repeating: "]", count: 600), .tooDeep),
        ]
        for (text, reason) in cases {
            #expect(error(text)?.reason == reason, "\(text.prefix(40))")
        }
    }

    @Test func tapeIsReusedAcrossDocuments() throws {
        let tape = JSONTape(initialCapacity: 2)
        var first = Array(#"{"a":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]}"#.utf8)
        try first.withUnsafeMutableBytes { try tape.parse(UnsafeRawBufferPointer($0)) }
        #expect(tape.root["a"].count == 20)
        var second = Array(#"{"b":"x"}"#.utf8)
        try second.withUnsafeMutableBytes { buffer in
            try tape.parse(UnsafeRawBufferPointer(buffer))
            #expect(tape.root["b"].string == "x")
            #expect(!tape.root["a"].exists)
        }
    }
}

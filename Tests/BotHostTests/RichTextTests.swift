import Foundation
import Testing
import XRPCClient

/// Rich text: facet byte offsets, grapheme counting and safe truncation.
@Suite struct RichTextTests {
    /// Segments: (kind, text, value) with kind text/mention/link/tag.
    typealias Segment = (kind: String, text: String, value: String)

    static let cases: [[Segment]] = [
        [("mention", "@alice.test", "did:plc:alice"), ("text", " reached level 5!", "")],
        [("text", "🎉🎉 ", ""), ("mention", "@bob.test", "did:plc:bob"), ("text", " 👍🏽", "")],
        [("text", "Family 👨‍👩‍👧‍👦 and flags 🇫🇷🇯🇵 ", ""), ("tag", "#niveau", "niveau")],
        [("text", "e\u{301}te\u{301} — combining marks ", ""), ("link", "bothost.dev", "https://bothost.dev")],
        [("text", "日本語のテキスト ", ""), ("mention", "@山田.test", "did:plc:yamada"), ("text", " 中文", "")],
        [("text", "مرحبا بالعالم ", ""), ("mention", "@عربي.test", "did:plc:arabic"), ("text", " שלום ", ""), ("tag", "#עברית", "עברית")],
        [("link", "https://example.com/ü?q=1", "https://example.com/%C3%BC?q=1"), ("text", " ", ""), ("tag", "#t", "t")],
    ]

    static func build(_ segments: [Segment]) -> RichTextBuilder {
        var builder = RichTextBuilder()
        for segment in segments {
            switch segment.kind {
            case "mention": builder.mention(segment.text, did: segment.value)
            case "link": builder.link(segment.text, uri: segment.value)
            case "tag": builder.tag(segment.text, tag: segment.value)
            default: builder.text(segment.text)
            }
        }
        return builder
    }

    /// The same segments through the atproto SDK's TextBuilder (Python, MarshalX): an
    /// independent implementation of the byte offsets.
    @Test func byteOffsetsMatchTheAtprotoSDK() throws {
        let python = Fixtures.packageRoot.appendingPathComponent(".venv/bin/python").path
        let script = """
            import json, sys
            from atproto import client_utils
            out = []
            for case in json.load(sys.stdin):
                tb = client_utils.TextBuilder()
                for kind, text, value in case:
                    if kind == 'mention': tb.mention(text, value)
                    elif kind == 'link': tb.link(text, value)
                    elif kind == 'tag': tb.tag(text, value)
                    else: tb.text(text)
                out.append({'text': tb.build_text(), 'facets': [[f.index.byte_start, f.index.byte_end] for f in tb.build_facets()]})
            print(json.dumps(out))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let json = try JSONSerialization.data(withJSONObject: Self.cases.map { $0.map { [$0.kind, $0.text, $0.value] } })
        input.fileHandleForWriting.write(json)
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let expected = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        #expect(expected.count == Self.cases.count)
        for (segments, reference) in zip(Self.cases, expected) {
            let rich = Self.build(segments).build()
            #expect(rich.text == reference["text"] as? String)
            let offsets = rich.facets.map { [$0.index.byteStart, $0.index.byteEnd] }
            #expect(offsets == reference["facets"] as? [[Int]], "\(rich.text)")
        }
    }

    @Test func graphemesCountAsBlueskyCountsThem() {
        #expect(RichText(text: "👨‍👩‍👧‍👦", facets: []).graphemeCount == 1)
        #expect(RichText(text: "👨‍👩‍👧‍👦", facets: []).byteCount == 25)
        #expect(RichText(text: "🇫🇷🇯🇵", facets: []).graphemeCount == 2)
        #expect(RichText(text: "e\u{301}", facets: []).graphemeCount == 1)
        #expect(RichText(text: "👍🏽", facets: []).graphemeCount == 1)
        #expect(RichText(text: "한국어", facets: []).graphemeCount == 3)
    }

    @Test func textWithinTheLimitsIsUntouched() {
        var builder = RichTextBuilder()
        builder.text(String(repeating: "a", count: 300))
        let rich = builder.build(maxGraphemes: 300)
        #expect(rich.graphemeCount == 300)
        #expect(!rich.text.hasSuffix("…"))
    }

    @Test func longTextIsCutAtAGraphemeBoundaryWithAnEllipsis() {
        var builder = RichTextBuilder()
        builder.mention("@alice.test", did: "did:plc:alice")
        builder.text(" " + String(repeating: "👍🏽", count: 400))  // 8 bytes, one grapheme
        let rich = builder.build(maxGraphemes: 300)
        #expect(rich.graphemeCount == 300)
        #expect(rich.text.hasSuffix("👍🏽…"))  // never a thumb without its skin tone
        #expect(rich.byteCount <= 3_000)
        #expect(rich.facets.count == 1)
        #expect(rich.facets[0].index.byteStart == 0 && rich.facets[0].index.byteEnd == 11)
    }

    @Test func aFacetThatDoesNotFitIsDroppedWholeNeverCut() {
        var builder = RichTextBuilder()
        builder.text(String(repeating: "x", count: 290) + " ")
        builder.mention("@a-very-long-handle.bsky.social", did: "did:plc:long")
        builder.text(" reached level 10!")
        let rich = builder.build(maxGraphemes: 300)
        #expect(rich.facets.isEmpty)
        #expect(rich.text == String(repeating: "x", count: 290) + "…")
        #expect(rich.graphemeCount <= 300)
    }

    @Test func theByteLimitBindsForLongGraphemes() {
        var builder = RichTextBuilder()
        builder.text(String(repeating: "👨‍👩‍👧‍👦", count: 300))  // 25 bytes each: 7,500 bytes
        let rich = builder.build()
        #expect(rich.byteCount <= 3_000)
        #expect(rich.text.hasSuffix("👨‍👩‍👧‍👦…"))
        #expect(rich.graphemeCount == 119 + 1)
    }

    @Test func theByteLimitIsKeptToo() {
        var builder = RichTextBuilder()
        builder.text(String(repeating: "日", count: 1_200))  // 3 bytes each
        let rich = builder.build(maxGraphemes: 5_000, maxBytes: 3_000)
        #expect(rich.byteCount <= 3_000)
        #expect(rich.text.hasSuffix("…"))
    }
}

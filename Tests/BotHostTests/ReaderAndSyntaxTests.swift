import BotHost
import Foundation
import Testing
import XRPCClient

struct ReaderAndSyntaxTests {
    private func lines(of text: String, maxLineLength: Int = 1 << 20, bufferSize: Int = 16) throws -> [String] {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("c.jsonl").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let reader = LineReader(source: try FileByteSource(path: path), bufferSize: bufferSize, maxLineLength: maxLineLength)
        var out: [String] = []
        try reader.forEachLine { line in
            switch line {
            case let .text(bytes): out.append(String(decoding: bytes, as: UTF8.self))
            case let .tooLong(length): out.append("<too long: \(length)>")
            }
            return true
        }
        return out
    }

    @Test func splitsLinesAcrossBufferBoundaries() throws {
        let long = String(repeating: "x", count: 5000)
        #expect(try lines(of: "a\nbb\r\n\n\(long)\nlast") == ["a", "bb", long, "last"])
    }

    @Test func skipsOverLongLinesAndGoesOn() throws {
        let long = String(repeating: "y", count: 20_000)
        #expect(try lines(of: "ok\n\(long)\nafter\n", maxLineLength: 4096) == ["ok", "<too long: 20000>", "after"])
    }

    @Test func tidRoundTripsAndOrders() throws {
        let tid = try #require(TID("3mmoojp7vgo2g"))
        #expect(tid.description == "3mmoojp7vgo2g")
        #expect(TID("3mmoojp7vgo2h")! > tid)
        #expect(TID("self") == nil)
        #expect(TID("3mmoojp7vgo2") == nil)
        #expect(TID("kmmoojp7vgo2g") == nil)  // would set bit 63
        #expect(TID(microseconds: tid.microseconds, clockID: UInt16(tid.rawValue & 0x3FF)) == tid)
    }

    @Test func atURIParts() throws {
        let uri = try #require(ATURI("at://did:plc:abc/app.bsky.feed.post/3k2a"))
        #expect(uri.authority == "did:plc:abc")
        #expect(uri.collection == "app.bsky.feed.post")
        #expect(uri.rkey == "3k2a")
        #expect(ATURI("https://x") == nil)
    }
}

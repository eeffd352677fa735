import ArgumentParser
import BotHost
import Foundation
import Plugins

/// `bothost bench-decode FILE [--foundation]`: decode throughput over a capture held
/// in memory, for `make bench` (hidden from help: a measuring tool, not a feature).
struct BenchDecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-decode",
        abstract: "Measure decode MB/s of a capture held in memory (used by make bench).",
        shouldDisplay: false)

    @Argument(help: "A .jsonl capture.")
    var capture: String

    @Flag(name: .long, help: "Measure Foundation's JSONDecoder (Codable) instead of the tape decoder.")
    var foundation = false

    @Option(name: .customLong("repeat"), help: "Repetitions; the best is reported.")
    var repetitions: Int = 3

    func run() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: capture))
        let bytes = [UInt8](data)
        let lines = Self.lineRanges(bytes)
        let total = lines.reduce(0) { $0 + $1.count }
        var best = Double.infinity
        var checksum = 0
        for _ in 0..<max(1, repetitions) {
            let t0 = Clock.monotonicSeconds()
            checksum = foundation ? Self.foundationPass(data, lines) : Self.tapePass(bytes, lines)
            best = min(best, Clock.monotonicSeconds() - t0)
        }
        let json = JSONWriter()
        json.object {
            json.field("tool", foundation ? "foundation-jsondecoder" : "bothost-tape")
            json.field("bytes", total)
            json.field("lines", lines.count)
            json.field("seconds", best)
            json.field("mb_per_s", Double(total) / best / 1e6)
            json.field("checksum", checksum)
        }
        print(json.output)
    }

    /// The ranges of the non-empty lines of a capture held in memory.
    static func lineRanges(_ bytes: [UInt8]) -> [Range<Int>] {
        var lines: [Range<Int>] = []
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == 0x0A {
            if index > start { lines.append(start..<index) }
            start = index + 1
        }
        if start < bytes.count { lines.append(start..<bytes.count) }
        return lines
    }

    /// Decodes each line and reads what the leveling rules read (media class, subject).
    static func tapePass(_ bytes: [UInt8], _ lines: [Range<Int>]) -> Int {
        let decoder = EventDecoder()
        let subject: JSONKey = "subject", uri: JSONKey = "uri"
        var checksum = 0
        bytes.withUnsafeBytes { buffer in
            for line in lines {
                guard let event = try? decoder.decode(UnsafeRawBufferPointer(rebasing: buffer[line])) else { continue }
                checksum &+= Int(MediaClass(post: event.record).rawValue)
                checksum &+= event.record[subject][uri].unescapedBytes?.count ?? 0
            }
        }
        return checksum
    }

    struct Envelope: Decodable {
        var did: String
        var time_us: Int64
        var kind: String
        var commit: Commit?
    }
    struct Commit: Decodable {
        var rev: String
        var operation: String
        var collection: String
        var rkey: String
        var record: Record?
    }
    struct Record: Decodable {
        var subject: Subject?
        var embed: Embed?
        enum CodingKeys: CodingKey { case subject, embed }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            subject = try? c.decodeIfPresent(Subject.self, forKey: .subject)
            embed = try? c.decodeIfPresent(Embed.self, forKey: .embed)
        }
    }
    struct Subject: Decodable { var uri: String? }
    struct Embed: Decodable {
        var type: String?
        var images: [Item]?
        var items: [Item]?
        var alt: String?
        var media: Media?
        enum CodingKeys: String, CodingKey { case type = "$type", images, items, alt, media }
    }
    struct Media: Decodable {
        var type: String?
        var images: [Item]?
        var items: [Item]?
        var alt: String?
        enum CodingKeys: String, CodingKey { case type = "$type", images, items, alt }
    }
    struct Item: Decodable { var alt: String? }

    /// The same work with one reused Foundation JSONDecoder and Codable models.
    static func foundationPass(_ data: Data, _ lines: [Range<Int>]) -> Int {
        let decoder = JSONDecoder()
        var checksum = 0
        for line in lines {
            guard let event = try? decoder.decode(Envelope.self, from: data.subdata(in: line)) else { continue }
            checksum &+= event.commit?.record?.embed?.images?.count ?? 0
            checksum &+= event.commit?.record?.subject?.uri?.utf8.count ?? 0
        }
        return checksum
    }
}

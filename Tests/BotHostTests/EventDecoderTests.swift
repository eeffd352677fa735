import BotHost
import Foundation
import Testing

struct EventDecoderTests {
    private func decode(_ line: String) -> Result<EventKind?, MalformedEvent> {
        let decoder = EventDecoder()
        var bytes = Array(line.utf8)
        return bytes.withUnsafeMutableBytes { buffer in
            do throws(MalformedEvent) { return .success(try decoder.decode(UnsafeRawBufferPointer(buffer))?.kind) } catch { return .failure(error) }
        }
    }

    @Test func decodesEveryRealEvent() throws {
        let text = try String(contentsOfFile: Fixtures.realSamples, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 187)
        let decoder = EventDecoder()
        var kinds: [EventKind: Int] = [:]
        var operations: [CommitOperation: Int] = [:]
        var withRecord = 0
        for line in lines {
            var bytes = Array(line.utf8)
            try bytes.withUnsafeMutableBytes { buffer in
                let event = try #require(try decoder.decode(UnsafeRawBufferPointer(buffer)))
                kinds[event.kind, default: 0] += 1
                #expect(event.did.string?.hasPrefix("did:") == true)
                #expect(event.timeUS > 1_700_000_000_000_000)
                if let commit = event.commit {
                    operations[commit.operation, default: 0] += 1
                    #expect(commit.rev.string?.count == 13)
                    #expect(commit.collection.string?.contains(".") == true)
                    if commit.operation != .delete {
                        #expect(commit.record.kind == .object)
                        withRecord += 1
                    }
                }
            }
        }
        #expect(kinds == [.commit: 179, .identity: 3, .account: 5])
        #expect(operations == [.create: 169, .update: 4, .delete: 6])
        #expect(withRecord == 173)
    }

    @Test func readsRecordFieldsOfRealEvents() throws {
        // Line 187 has a \u0026 escape in a link; line 166 is a video post; 165 recordWithMedia.
        let lines = try String(contentsOfFile: Fixtures.realSamples, encoding: .utf8).split(separator: "\n")
        let decoder = EventDecoder()
        var bytes = Array(lines[186].utf8)
        try bytes.withUnsafeMutableBytes { buffer in
            let event = try #require(try decoder.decode(UnsafeRawBufferPointer(buffer)))
            let uri = event.record["embed"]["external"]["uri"].string ?? ""
            #expect(uri.contains("&"))
            #expect(!uri.contains("\\u0026"))
        }
        bytes = Array(lines[165].utf8)
        try bytes.withUnsafeMutableBytes { buffer in
            let event = try #require(try decoder.decode(UnsafeRawBufferPointer(buffer)))
            #expect(event.record["embed"]["$type"].string == "app.bsky.embed.video")
        }
        bytes = Array(lines[164].utf8)
        try bytes.withUnsafeMutableBytes { buffer in
            let event = try #require(try decoder.decode(UnsafeRawBufferPointer(buffer)))
            #expect(event.record["embed"]["media"]["$type"].string == "app.bsky.embed.images")
        }
    }

    @Test func passesUnknownKindsThrough() {
        guard case let .success(kind) = decode(#"{"did":"did:plc:x","time_us":1,"kind":"sync","sync":{}}"#) else {
            Issue.record("unknown kind was refused")
            return
        }
        #expect(kind == nil)
    }

    @Test func reportsMalformedEventsWithReasons() {
        let cases: [(String, MalformedEvent.Reason, String)] = [
            (#"not json"#, .invalidJSON, "invalid literal at byte 0"),
            (#"{"did" "x"}"#, .invalidJSON, "expected ':' at byte 7"),
            (#"{"did":"did:plc:x","time_us":1,"kind":"commit","commit":{"rev":"3"#, .truncated, "unexpected end of input at byte 65"),
            (#"[1,2]"#, .wrongType, "event is not a JSON object"),
            (#"{"time_us":1,"kind":"commit"}"#, .missingField, "missing field did"),
            (#"{"did":5,"time_us":1,"kind":"commit"}"#, .wrongType, "did is an integer, expected a string"),
            (#"{"did":"did:plc:x","time_us":"1","kind":"commit"}"#, .wrongType, "time_us is a string, expected an integer"),
            (#"{"did":"did:plc:x","time_us":1.5,"kind":"commit"}"#, .wrongType, "time_us is a number, expected an integer"),
            (#"{"did":"did:plc:x","time_us":-1,"kind":"commit"}"#, .badValue, "time_us is out of range"),
            (#"{"did":"did:plc:x","time_us":1}"#, .missingField, "missing field kind"),
            (#"{"did":"did:plc:x","time_us":1,"kind":"commit"}"#, .missingField, "missing field commit"),
            (#"{"did":"did:plc:x","time_us":1,"kind":"commit","commit":{"operation":"create","collection":"a.b.c","rkey":"k","record":{}}}"#, .missingField, "missing field commit.rev"),
            (#"{"did":"did:plc:x","time_us":1,"kind":"commit","commit":{"rev":"r","operation":"upsert","collection":"a.b.c","rkey":"k"}}"#, .badValue, "commit.operation is not create, update or delete"),
            (#"{"did":"did:plc:x","time_us":1,"kind":"commit","commit":{"rev":"r","operation":"create","collection":"a.b.c","rkey":"k"}}"#, .missingField, "missing field commit.record"),
            (#"{"did":"did:plc:x","time_us":1,"kind":"commit","commit":{"rev":"r","operation":"create","collection":"a.b.c","rkey":"k","record":"x"}}"#, .wrongType, "commit.record is a string, expected an object"),
            (#"{"did":"did:plc:x","time_us":1,"kind":"commit","commit":{"rev":"r","operation":"create","collection":7,"rkey":"k","record":{}}}"#, .wrongType, "commit.collection is an integer, expected a string"),
            (#"{"did":"did:plc:x","time_us":1,"kind":"identity"}"#, .missingField, "missing field identity"),
            (#"{"did":"did:plc:x","time_us":1,"kind":"account","account":{"did":"did:plc:x"}}"#, .missingField, "missing field account.active"),
            (#"{"did":"did:plc:x","time_us":1,"kind":"account","account":{"active":"yes"}}"#, .wrongType, "account.active is a string, expected a boolean"),
        ]
        for (line, reason, detail) in cases {
            guard case let .failure(error) = decode(line) else {
                Issue.record("accepted: \(line)")
                continue
            }
            #expect(error.reason == reason, "\(line)")
            #expect(error.detail == detail, "\(line)")
        }
    }

    @Test func deletesNeedNoRecord() {
        guard case let .success(kind) = decode(#"{"did":"did:plc:x","time_us":1,"kind":"commit","commit":{"rev":"r","operation":"delete","collection":"a.b.c","rkey":"k"}}"#) else {
            Issue.record("delete refused")
            return
        }
        #expect(kind == .commit)
    }
}

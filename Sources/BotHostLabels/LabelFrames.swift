import BotHost
import Foundation

/// The labeler's wire formats: `com.atproto.label.subscribeLabels` frames (a DAG-CBOR
/// header then a DAG-CBOR body, in one binary WebSocket message, as the repo event stream)
/// and the JSON of `com.atproto.label.queryLabels`.
public enum LabelFrames {
    /// A `#labels` message: one stored label at its sequence number.
    public static func labels(_ label: StoredLabel) -> [UInt8] {
        DAGCBOR.map([("op", .int(1)), ("t", .text("#labels"))]).encoded()
            + DAGCBOR.map([("seq", .int(label.seq)), ("labels", .array([label.label.cbor]))]).encoded()
    }

    /// An `#info` message (`OutdatedCursor`: the cursor is older than what is kept).
    public static func info(name: String, message: String) -> [UInt8] {
        DAGCBOR.map([("op", .int(1)), ("t", .text("#info"))]).encoded()
            + DAGCBOR.map([("name", .text(name)), ("message", .text(message))]).encoded()
    }

    /// An error message (`op: -1`), after which the server closes (`FutureCursor`).
    public static func error(_ name: String, message: String) -> [UInt8] {
        DAGCBOR.map([("op", .int(-1))]).encoded()
            + DAGCBOR.map([("error", .text(name)), ("message", .text(message))]).encoded()
    }

    /// A label as JSON (`com.atproto.label.defs#label`): the signed fields as signed (`neg`
    /// only when true, `exp` only when set), the signature as `{"$bytes": base64}`.
    public static func json(_ label: StoredLabel, into writer: JSONWriter) {
        writer.object {
            writer.field("ver", 1)
            writer.field("src", label.src)
            writer.field("uri", label.uri)
            writer.field("val", label.val)
            if label.neg { writer.field("neg", true) }
            writer.field("cts", label.cts)
            if let exp = label.exp { writer.field("exp", exp) }
            writer.key("sig")
            writer.object { writer.field("$bytes", base64(label.sig)) }
        }
    }

    /// The queryLabels answer: `{"cursor": "<last seq>", "labels": [...]}`.
    public static func queryResponse(_ labels: [StoredLabel]) -> String {
        let writer = JSONWriter()
        writer.object {
            if let last = labels.last { writer.field("cursor", String(last.seq)) }
            writer.array("labels") { for label in labels { json(label, into: writer) } }
        }
        return writer.output
    }

    /// Standard base64 without padding (the atproto data model's JSON for bytes).
    public static func base64(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }
}

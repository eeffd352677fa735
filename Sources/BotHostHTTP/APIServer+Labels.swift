import BotHost
import BotHostLabels
import Hummingbird
import NIOCore

/// `com.atproto.label.queryLabels` (docs/labels.md): the labels whose subject matches
/// one of the URI patterns, in sequence order, paged by `cursor` (the last `seq`).
extension APIServer {
    static let queryLabelsPath = "/xrpc/com.atproto.label.queryLabels"
    static let subscribeLabelsPath = "/xrpc/com.atproto.label.subscribeLabels"

    func registerLabels(on router: Router<APIRequestContext>) {
        router.get(RouterPath(stringLiteral: Self.queryLabelsPath)) { request, _ -> Response in
            guard let labels else { return Self.error(.notImplemented, "MethodNotImplemented", "this server has no labeler") }
            let parameters = request.uri.queryParameters
            let patterns = parameters[values: "uriPatterns"].map(String.init)
            let sources = parameters[values: "sources"].filter { !$0.isEmpty }.map(String.init)
            var limit = 50
            if let text = parameters["limit"] {
                guard let value = Int(text) else { return Self.error(.badRequest, "InvalidRequest", "limit must be an integer") }
                limit = value
            }
            // A source that is no labeler's DID matches nothing; only the sizes are bounded.
            if let problem = LabelQuery.validate(patterns: patterns, sources: sources, limit: limit) {
                return Self.error(.badRequest, "InvalidRequest", problem)
            }
            var after: Int64 = 0
            if let text = parameters["cursor"], !text.isEmpty {
                guard let value = Int64(text), value >= 0 else { return Self.error(.badRequest, "InvalidRequest", "invalid cursor") }
                after = value
            }
            let query = LabelQuery(uriPatterns: patterns, sources: sources, after: after, limit: limit)
            return await reads.run { Self.guarded {
                Self.json(.ok, LabelFrames.queryResponse(try labels.queryLabels(query)))
            } }
        }
        // Reached when a subscribeLabels request was not upgraded: say why.
        router.get(RouterPath(stringLiteral: Self.subscribeLabelsPath)) { request, _ -> Response in
            guard labels != nil else { return Self.error(.notImplemented, "MethodNotImplemented", "this server has no labeler") }
            if let problem = LabelStream.cursorProblem(request.uri.queryParameters["cursor"].map(String.init)) {
                return Self.error(.badRequest, "InvalidRequest", problem)
            }
            if let labelStreams, labelStreams.isFull {
                var response = Self.error(.serviceUnavailable, "Overloaded", "too many label subscribers; retry later")
                response.headers[.retryAfter] = "10"
                return response
            }
            return Self.error(.badRequest, "InvalidRequest", "expected a WebSocket upgrade")
        }
    }
}

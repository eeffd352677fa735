import BotHost
import Foundation
import Hummingbird
import NIOCore

/// The admin endpoints: moderator actions over HTTP, off unless a bearer token is
/// configured (`BOTHOST_ADMIN_TOKEN`, or `--admin-token-file` with mode 0600).
///
/// Adjustments are queued as commands for the host that owns the database (applied in its
/// next batch, or by `bothost adjust` when no host runs); exclusions take effect at once.
/// The token is never logged or echoed.
struct AdminAPI: Sendable {
    let store: any ModerationWriting
    let token: String

    func register(on router: Router<APIRequestContext>) {
        let group = router.group("/v1/admin/accounts/:did")
        group.post("adjust") { request, context -> Response in
            try await authorized(request) {
                let did = context.parameters.get("did") ?? ""
                let body = try await request.body.collect(upTo: 16_384)
                guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
                      let amount = (object["amount"] as? NSNumber)?.int64Value, amount != 0, ModeratorCommand.adjustRange.contains(amount),
                      let reason = object["reason"] as? String, reason.contains(where: { !$0.isWhitespace }) else {
                    return APIServer.error(.badRequest, "InvalidRequest", "expected {\"amount\": non-zero integer within ±1000000000, \"reason\": text}")
                }
                guard let account = try store.account(did) else { return APIServer.error(.notFound, "AccountNotFound", "no account \(did)") }
                let id = try store.enqueue(.adjust, did: account.did, amount: amount, reason: reason, actor: "http-admin")
                return APIServer.json(.accepted, "{\"command\":\(id),\"state\":\"pending\"}")
            }
        }
        for (path, excluded) in [("exclude", true), ("include", false)] {
            group.post(RouterPath(stringLiteral: path)) { request, context -> Response in
                try await authorized(request) {
                    let did = context.parameters.get("did") ?? ""
                    guard try store.setExcluded(did, excluded: excluded, actor: "http-admin", reason: "via the admin API") else {
                        return APIServer.error(.notFound, "AccountNotFound", "no account \(did)")
                    }
                    return APIServer.json(.ok, "{\"did\":\(JSONWriter.quoted(did)),\"excluded\":\(excluded)}")
                }
            }
        }
    }

    private func authorized(_ request: Request, _ body: () async throws -> Response) async throws -> Response {
        let header = request.headers[.authorization] ?? ""
        guard header.hasPrefix("Bearer "), Self.constantTimeEquals(Array(header.utf8.dropFirst(7)), Array(token.utf8)) else {
            var response = APIServer.error(.unauthorized, "Unauthorized", "a valid bearer token is required")
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        do {
            return try await body()
        } catch let error as HTTPError {
            // The request's fault (e.g. a body over 16 KiB: 413), said as such.
            return APIServer.error(error.status, "InvalidRequest", error.body ?? error.status.reasonPhrase)
        } catch {
            return APIServer.internalError(error)
        }
    }

    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}

import BotHost
import BotHostConfig
import Foundation
import Plugins
import XRPCClient

/// What a dry run would post: the pending messages rendered as the dispatcher would
/// render them (one post per account for coalesced milestones).
enum OutboxPreview {
    static func lines(store: any OutboxModeration, configuration: BotHostConfiguration, limit: Int) throws -> [String] {
        let pending = try store.outboxMessages(states: ["pending"], did: nil, limit: nil)
        guard !pending.isEmpty else { return [] }
        let renderer = AnnouncementRenderer(progression: configuration.leveling.progression)
        var lines: [String] = []
        var seen = Set<String>()
        var posts = 0
        for message in pending {
            if message.kind == "milestone" {
                guard !seen.contains(message.did) else { continue }
                seen.insert(message.did)
                let group = pending.filter { $0.kind == "milestone" && $0.did == message.did }
                let levels = group.compactMap { levelOf($0.key) }
                let text = renderer.render(did: message.did, handle: message.handle, levels: levels, xp: nil,
                                           mention: message.consent == .optedIn)
                posts += 1
                if lines.count < limit {
                    let how = configuration.outbox.mode == .dm ? "DM to \(message.did)" : "post"
                    lines.append("dry run: would \(how): \(text.text)" + (text.facets.isEmpty ? "" : " [mention \(message.did)]"))
                }
            } else {
                posts += 1
                guard lines.count < limit else { continue }
                let payload = (try? JSONSerialization.jsonObject(with: Data(message.payload.utf8))) as? [String: Any] ?? [:]
                if message.kind == "rank" {
                    let text = renderer.render(template: payload["template"] as? String ?? "", did: message.did, handle: message.handle,
                                               mention: message.consent == .optedIn,
                                               values: ["n": "\(payload["n"] ?? "")", "rank": "\(payload["rank"] ?? "")",
                                                        "window": payload["window"] as? String ?? ""])
                    lines.append("dry run: would post: \(text.text)" + (text.facets.isEmpty ? "" : " [mention \(message.did)]"))
                } else {
                    lines.append("dry run: would reply to \(payload["parent_uri"] as? String ?? "?"): \(payload["text"] as? String ?? "")")
                }
            }
        }
        if posts > lines.count { lines.append("dry run: … and \(posts - lines.count) more") }
        return lines
    }

    static func levelOf(_ key: String) -> Int? {
        key.split(separator: ":").last.flatMap { Int($0) }
    }
}

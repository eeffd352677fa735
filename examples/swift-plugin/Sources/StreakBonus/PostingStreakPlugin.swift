import BotHost

/// A bonus for posting on consecutive days (UTC, by event time): the second day in a
/// row earns `step` XP more, the third `2 × step`, up to `maxBonus`. A day without a post
/// starts over.
///
/// It shows the plugin API a bot builds on:
/// - the bonus is a keyed grant through ``PluginContext``, so a deleted post takes its
///   bonus back and a replayed post earns nothing twice;
/// - it is keyed apart from the leveling grant of the same post
///   (``PluginContext/grant(amount:tag:rule:keyedAs:)``), so both count;
/// - the streak is remembered with the host's rule limits (``PluginContext/limit(_:_:key:)``),
///   which are written with the batch and reloaded at start: a resumed replay continues
///   the streak exactly where it was.
public final class PostingStreakPlugin: Plugin {
    public let id = "streak"
    public let collections = ["app.bsky.feed.post"]
    /// XP per day of streak after the first.
    public let step: Int
    /// The largest bonus per post.
    public let maxBonus: Int

    private var rule = RuleRef.unregistered
    private var slot: CounterRef?
    private var bonusCollection: UInt16 = 0

    public init(step: Int = 5, maxBonus: Int = 30) {
        self.step = step
        self.maxBonus = maxBonus
    }

    public func register(in context: PluginContext) {
        rule = context.registerRule(plugin: id, rule: "streak-bonus", version: "1:\(step)/\(maxBonus)")
        slot = context.registerLimitSlot("streak")
        bonusCollection = context.collectionID("example.streak.bonus")
    }

    public func handle(_ event: Event, in context: PluginContext) {
        guard let slot, let commit = event.commit else { return }
        switch commit.operation {
        case .delete:
            context.revoke(rule: rule, keyedAs: bonusCollection)
        case .update:
            return  // an edit changes nothing about the day it was posted
        case .create:
            // Only top-level posts count, and only the day's first one gets the bonus.
            guard commit.record.exists, !commit.record["reply"].exists else { return }
            let day = event.timeUS / 86_400_000_000
            let lastDay = context.limit(slot, .lastGrant, key: 0)
            guard lastDay != day else { return }
            let streak = lastDay == day - 1 ? (context.limit(slot, .value, key: 0) ?? 1) + 1 : 1
            context.setLimit(slot, .lastGrant, key: 0, day)
            context.setLimit(slot, .value, key: 0, streak)
            let bonus = min(maxBonus, Int(streak - 1) * step)
            if bonus > 0 { context.grant(amount: bonus, rule: rule, keyedAs: bonusCollection) }
        }
    }
}

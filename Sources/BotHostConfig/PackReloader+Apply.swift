import BotHost
import Plugins
import Rules

extension PackReloader {
    /// Swaps the plugins of `old` for those of `new` in a running engine (call it on the
    /// engine's thread, e.g. through ``LiveHost/perform(_:)``), with the new live pack's
    /// milestones and templates.
    public static func apply(_ new: PackSelection, replacing old: PackSelection, to engine: HostEngine,
                             configuration: BotHostConfiguration) {
        engine.replacePlugin(id: "pack:" + old.live.pack.id,
                             with: RulePackPlugin(pack: new.live.pack, versionTag: new.live.versionTag, shadow: false))
        if let oldShadow = old.shadow, let shadow = new.shadow {
            engine.replacePlugin(id: "shadow:" + oldShadow.pack.id,
                                 with: RulePackPlugin(pack: shadow.pack, versionTag: shadow.versionTag, shadow: true))
        }
        var adopted = configuration
        adopted.adopt(new)
        let context = engine.context
        var progression = context.progression
        progression.milestones = adopted.leveling.progression.milestones
        progression.announcement = adopted.leveling.progression.announcement
        progression.announcementMany = adopted.leveling.progression.announcementMany
        context.progression = progression
        context.rankAnnouncement = adopted.rankAnnouncement
        context.rankFirstAnnouncement = adopted.rankFirstAnnouncement
    }
}

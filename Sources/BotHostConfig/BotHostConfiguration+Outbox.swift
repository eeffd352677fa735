import BotHost
import Plugins

extension BotHostConfiguration {
    /// The outbox dispatcher's options of this configuration.
    public var dispatcherOptions: OutboxDispatcher.Options {
        var options = OutboxDispatcher.Options()
        options.mode = OutboxDispatcher.Options.Mode(rawValue: outbox.mode.rawValue) ?? .reply
        options.maxAgeUS = outbox.maxAgeSeconds * 1_000_000
        options.maxAttempts = outbox.maxAttempts
        options.coalesce = outbox.coalesce
        options.budget = WriteBudget(hourlyPoints: outbox.hourlyPoints, dailyPoints: outbox.dailyPoints,
                                     headroomPercent: outbox.headroomPercent)
        options.confirmIntervalUS = Int64(consent.confirmIntervalMinutes) * 60_000_000
        options.confirmationsPerHour = consent.confirmationsPerHour
        return options
    }
}

extension BotHostConfiguration {
    /// The engine a host runs, built the same way for `run` and `replay`: a context with
    /// this configuration, `partition`'s state loaded from `store`, the plugins of
    /// `packs` (or `plugins`), and the bot's own account named (its commits never reach
    /// plugins).
    ///
    /// - Parameter live: a live partitioned host lets other partitions' grants leave
    ///   memory after the hot window (partitions follow the stream within seconds of each
    ///   other); a replay keeps them.
    /// - Throws: the store's error, described.
    public func makeEngine(store: any StateStore, packs: PackSelection, partition: Partition = .whole, live: Bool,
                           plugins: [any Plugin]? = nil) throws -> HostEngine {
        let context = makeContext()
        context.residency.partition = partition
        if live { context.residency.keepForeignGrants = false }
        do { try store.load(into: context) } catch { throw store.describe(error) }
        let engine = HostEngine(context: context, plugins: plugins ?? makePlugins(packs: packs))
        if let did = bot.did { engine.setBot(did: did) }
        return engine
    }
}

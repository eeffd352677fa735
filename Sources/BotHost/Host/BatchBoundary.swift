/// The one way a batch ends, for the live host, the replayer and a moderator's command
/// applied by the CLI: the moderator commands queued for this host are applied (their
/// effects land in this batch, in the same transaction), the batch is closed, and a
/// failed read of an evicted grant stops the host before anything decided without the
/// grant is committed.
public struct BatchBoundary {
    private let store: any StateStore
    /// The newest moderator command applied so far.
    private var appliedCommands: Int64 = 0

    public init(store: any StateStore) {
        self.store = store
    }

    /// Closes the open batch of `context`.
    /// - Throws: a store error reading the commands, or the cold-grant read failure.
    public mutating func close(_ context: PluginContext) throws -> WriteBatch {
        context.apply(try store.pendingCommandsOnce(after: &appliedCommands))
        try context.decideRanks()
        let batch = context.closeBatch()
        if let failure = context.residency.coldGrantFailure { throw failure }
        return batch
    }
}

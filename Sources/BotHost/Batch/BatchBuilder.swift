/// The open batch: the rows the events applied since the last commit produced, in
/// event order, cut into segments at barriers (``WriteBatch``).
///
/// Effects are recorded here as they happen; ``PluginContext/closeBatch()`` turns the
/// builder into a ``WriteBatch`` with the final state of what the batch touched.
struct BatchBuilder {
    /// Segments closed by a barrier, in event order.
    var sealed: [WriteBatch.Segment] = []
    /// The open segment (its counters and XP buckets are filled when it is sealed).
    var open = WriteBatch.Segment()
    /// Counter increments of the open segment.
    var counters = CounterTable()
    /// Ledger entries of the open segment already fed to the rank tracker.
    var rankFed = 0
    /// Whether the rank tracker evaluated during the open segment.
    var rankEvaluated = false
    var commandsApplied: [(id: Int64, result: String)] = []
    var audits: [(actor: String, action: String, did: String?, detail: String)] = []
    /// Events applied since the batch opened.
    var events = 0

    /// Whether the open segment holds rows a barrier must not be moved before.
    var openHasRows: Bool { !open.hasNoRows || !counters.isEmpty || rankEvaluated }

    /// Takes the segments out, leaving an empty builder (capacity kept where it helps).
    mutating func takeSegments() -> [WriteBatch.Segment] {
        var segments = sealed
        sealed.removeAll(keepingCapacity: true)
        if !open.isEmpty { segments.append(open) }
        open = WriteBatch.Segment()
        return segments
    }
}

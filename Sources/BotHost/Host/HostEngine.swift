import CoreMetrics
import XRPCClient

/// Applies decoded events to the plugins and the host's state, one line at a time.
///
/// This is the one code path every event takes, from a capture file or a live socket:
/// decode, intern the account, drop duplicate revs, apply identity and account events,
/// hand commits to the plugins that asked for their collection.
public final class HostEngine {
    /// State and effects.
    public let context: PluginContext
    private var plugins: [any Plugin]
    private let decoder = EventDecoder()
    /// Per collection id: the plugins that read it (filled as collections appear).
    private var routes: [[Int]] = []
    /// Per collection id: FNV-1a of its NSID, the start of its operations' keys (`CommitOp`).
    private var collectionHashes: [UInt64] = []
    /// Malformed lines so far, by reason.
    public private(set) var malformed: [MalformedEvent.Reason: Int] = [:]
    /// The first malformed lines, with their line numbers, for the report.
    public private(set) var malformedSamples: [(line: Int, error: MalformedEvent)] = []
    /// How many malformed lines are kept as samples.
    public var maxSamples = 20
    /// Called for every malformed line (e.g. to log it).
    public var onMalformed: ((Int, MalformedEvent) -> Void)?
    /// Limits hit while applying events (not thread-safe: the applying thread's).
    public let limits = LimitLog()
    /// The collections-over-cap count already reported.
    private var reportedOverCap = 0

    private enum Keys {
        static let handle: JSONKey = "handle"
        static let active: JSONKey = "active"
        static let status: JSONKey = "status"
        static let seq: JSONKey = "seq"
    }

    public init(context: PluginContext, plugins: [any Plugin]) {
        self.context = context
        self.plugins = plugins
        routesEveryCollection = Self.readsEveryCollection(plugins)
        for plugin in plugins { plugin.register(in: context) }
    }

    /// Names the bot's own account, whose commits are then never handed to plugins (the
    /// bot's posts earn nothing and trigger nothing). Call after the state is loaded.
    public func setBot(did: String) {
        let (id, isNew) = context.internAccount(did)
        if isNew { context.state.markDirty(UInt32(id)) }
        context.state.botAccount = UInt32(id)
    }

    /// Replaces the plugin with id `id` (a reloaded rule pack) between two events: the new
    /// one registers its rules (a new version in the ledger) and the routes are rebuilt.
    /// Returns false when no plugin has that id.
    @discardableResult
    public func replacePlugin(id: String, with plugin: any Plugin) -> Bool {
        guard let index = plugins.firstIndex(where: { $0.id == id }) else { return false }
        plugin.register(in: context)
        plugins[index] = plugin
        routes.removeAll(keepingCapacity: true)
        routesEveryCollection = Self.readsEveryCollection(plugins)
        return true
    }

    /// The plugins, in order.
    public var loadedPlugins: [any Plugin] { plugins }

    /// Total malformed lines.
    public var malformedCount: Int { malformed.values.reduce(0, +) }

    /// Records a line that could not even be read (e.g. longer than the reader allows).
    public func reportMalformed(line: Int, _ error: MalformedEvent) {
        malformed[error.reason, default: 0] += 1
        LiveMetrics.malformed(error.reason.rawValue).increment()
        if malformedSamples.count < maxSamples { malformedSamples.append((line, error)) }
        onMalformed?(line, error)
    }

    /// Decodes and applies one line.
    public func apply(line bytes: UnsafeRawBufferPointer, number: Int) {
        _ = applyReturningTime(line: bytes, number: number)
    }

    /// Decodes and applies one line; returns the event's `time_us`, or nil when the line
    /// was malformed or of an unknown kind.
    @discardableResult
    public func applyReturningTime(line bytes: UnsafeRawBufferPointer, number: Int) -> Int64? {
        if let partition = context.residency.partition, partition.isPartial,
           let scan = V1Prescan.scan(bytes), !partition.owns(did: UnsafeRawBufferPointer(rebasing: bytes[scan.did])),
           let outcome = passForeign(bytes, scan, number: number) {
            return outcome
        }
        return apply(number: number) { () throws(MalformedEvent) in try decoder.decode(bytes) }
    }

    /// Another partition's line: passed on its DID and time, or dropped as a commit of
    /// a collection no plugin reads (exactly as the full path would); nil when it has to
    /// be decoded (a post, which every partition applies, or a layout the scan does not
    /// know).
    @inline(__always)
    private func passForeign(_ bytes: UnsafeRawBufferPointer, _ scan: V1Prescan, number: Int) -> Int64?? {
        switch scan.isCommit {
        case nil:
            return nil
        case false?:
            return .some(passForeign(timeUS: scan.timeUS, number: number))
        case true?:
            guard let range = V1Prescan.collectionValue(in: bytes, from: scan.end) else { return nil }
            let nsid = UnsafeRawBufferPointer(rebasing: bytes[range])
            if isCrossPartition(collection: nsid) { return nil }
            if !routesEveryCollection {
                let ctx = context
                let collection = ctx.state.internCollection(nsid)
                while routes.count <= collection { addRoute(routes.count) }
                if routes[collection].isEmpty {
                    ctx.totals.filtered += 1
                    return .some(scan.timeUS)
                }
            }
            return .some(passForeign(timeUS: scan.timeUS, number: number))
        }
    }

    /// The collections whose records other accounts' rules read (a repost reads the
    /// reposted post's grant): a partitioned host applies these commits of every
    /// partition's accounts, and only stream time of the rest (docs/scaling.md).
    public var crossPartitionCollections: [String] = ["app.bsky.feed.post"] {
        didSet { crossPartitionNSIDs = crossPartitionCollections.map { Array($0.utf8) } }
    }
    private var crossPartitionNSIDs: [[UInt8]] = [Array("app.bsky.feed.post".utf8)]
    /// Whether some plugin reads every collection (`*`): then no commit is filtered by
    /// collection, and another partition's commit need not be looked up in the routes.
    /// Recomputed when a plugin is replaced (a reloaded pack may add or drop `*`).
    private var routesEveryCollection = false
    private static func readsEveryCollection(_ plugins: [any Plugin]) -> Bool {
        plugins.contains { $0.collections.contains("*") }
    }

    /// Whether a commit of this collection is applied by every partition (see
    /// ``crossPartitionCollections``).
    @inline(__always)
    private func isCrossPartition<Bytes: Collection<UInt8>>(collection nsid: Bytes) -> Bool {
        crossPartitionNSIDs.contains { $0.elementsEqual(nsid) }
    }

    /// Another partition's event: its owner applies it; here only its time counts (the
    /// cursor and the ranking boundaries advance exactly as on a host of every account).
    @inline(__always)
    private func passForeign(timeUS: Int64, number: Int) -> Int64? {
        guard isDatedSanely(timeUS) else {
            limits.hit(.futureEvent, "time_us \(timeUS)")
            reportMalformed(line: number, MalformedEvent(.badValue, "time_us \(timeUS) is more than \(futureToleranceUS / 60_000_000) minutes in the future"))
            return nil
        }
        let ctx = context
        ctx.residency.noteEvent(timeUS: timeUS)
        ctx.advanceRanks(to: timeUS)
        ctx.totals.foreign += 1
        ctx.open.events += 1
        if timeUS > ctx.cursorUS { ctx.cursorUS = timeUS }
        ctx.afterEvent()
        return timeUS
    }

    /// Applies one line tokenized by a decode worker: `root` is its tape's root value.
    @discardableResult
    func apply(root: JSONValue, number: Int) -> Int64? {
        apply(number: number) { () throws(MalformedEvent) in try decoder.event(root: root) }
    }

    /// Applies what `decode` gives; a malformed line is counted and reported.
    @inline(__always)
    private func apply(number: Int, _ decode: () throws(MalformedEvent) -> Event?) -> Int64? {
        let event: Event?
        do {
            event = try decode()
        } catch {
            reportMalformed(line: number, error)
            return nil
        }
        guard let event, isDatedSanely(event.timeUS) else {
            if let event { rejectFuture(event, line: number) }
            return nil
        }
        apply(event)
        return event.timeUS
    }

    /// Decodes and applies one v2 frame; returns what it was (events carry their time).
    public func applyV2(frame bytes: UnsafeRawBufferPointer, number: Int) -> V2Outcome {
        let message: V2Message
        do {
            message = try decoder.decodeV2(bytes)
        } catch {
            reportMalformed(line: number, error)
            return .malformed
        }
        switch message {
        case let .event(event, seq):
            guard isDatedSanely(event.timeUS) else {
                rejectFuture(event, line: number)
                return .malformed
            }
            apply(event)
            return .event(timeUS: event.timeUS, seq: seq)
        case let .info(name, text): return .info(name: name, message: text)
        case let .error(name, text): return .error(name: name, message: text)
        case .unknown: return .skipped
        }
    }

    /// What a v2 frame turned out to be.
    public enum V2Outcome: Sendable, Equatable {
        case event(timeUS: Int64, seq: Int64?)
        case info(name: String, message: String)
        case error(name: String, message: String)
        case skipped, malformed
    }

    /// How far past the wall clock an event may be dated: Jetstream stamps events when it
    /// receives them, so only a skewed or hostile server sends later ones.
    public var futureToleranceUS: Int64 = 10 * 60 * 1_000_000
    /// Wall clock + tolerance, refreshed only when an event is dated past it.
    private var latestAcceptedUS: Int64 = 0

    /// Whether an event's time is acceptable (not past now + tolerance). One compare per
    /// event; the clock is read only when an event is past the cached bound.
    @inline(__always)
    private func isDatedSanely(_ timeUS: Int64) -> Bool {
        if timeUS <= latestAcceptedUS { return true }
        latestAcceptedUS = WallClock.nowUS() &+ futureToleranceUS
        return timeUS <= latestAcceptedUS
    }

    /// Counts and skips an event dated past now + the tolerance.
    private func rejectFuture(_ event: Event, line: Int) {
        limits.hit(.futureEvent, "time_us \(event.timeUS)")
        reportMalformed(line: line, MalformedEvent(.badValue, "time_us \(event.timeUS) is more than \(futureToleranceUS / 60_000_000) minutes in the future"))
    }

    /// Applies one decoded event.
    public func apply(_ event: Event) {
        let ctx = context
        // An event dated in the future would carry the cursor past every real event.
        guard isDatedSanely(event.timeUS) else {
            rejectFuture(event, line: 0)
            return
        }
        guard let didBytes = event.did.unescapedBytes, !didBytes.isEmpty else {
            reportMalformed(line: 0, MalformedEvent(.badValue, "did is empty or escaped"))
            return
        }
        // A commit of a collection no plugin reads is dropped before anything else, exactly
        // as the live subscription (wantedCollections from the plugins) never delivers it:
        // a replay and a live run see the same events.
        var collection = 0
        if let commit = event.commit {
            guard let collectionBytes = commit.collection.unescapedBytes else {
                ctx.totals.filtered += 1
                return
            }
            collection = ctx.state.internCollection(collectionBytes)
            if ctx.state.collectionsOverCap != reportedOverCap {
                reportedOverCap = ctx.state.collectionsOverCap
                limits.hit(.collections, String(decoding: collectionBytes.prefix(100), as: UTF8.self))
            }
            while routes.count <= collection { addRoute(routes.count) }
            guard !routes[collection].isEmpty else {
                ctx.totals.filtered += 1
                return
            }
        }
        if let partition = ctx.residency.partition, partition.isPartial, !partition.owns(did: didBytes),
           !isCrossPartition(event) {
            _ = passForeign(timeUS: event.timeUS, number: 0)
            return
        }
        let id = ctx.internAccount(didBytes).id
        let account = UInt32(id)
        ctx.residency.noteEvent(timeUS: event.timeUS)
        ctx.advanceRanks(to: event.timeUS)
        ctx.totals.events += 1
        ctx.open.events += 1
        if event.timeUS > ctx.cursorUS { ctx.cursorUS = event.timeUS }
        if ctx.firstEventUS == 0 { ctx.firstEventUS = event.timeUS }
        defer { ctx.afterEvent() }
        ctx.select(account: account, timeUS: event.timeUS)
        ctx.state.markDirty(account)
        switch event.kind {
        case .commit:
            guard let commit = event.commit else { return }
            let rkeyBytes = commit.rkey.unescapedBytes
            let rkey = rkeyBytes.flatMap { ctx.state.recordKey($0, intern: true) }
            let tid = rkey.flatMap { $0 & RecordKey.nonTIDFlag == 0 ? $0 : nil }
            let op = CommitOp.key(collectionHash: collectionHashes[collection], tid: tid, rkeyBytes: rkeyBytes,
                                  operation: commit.operation)
            guard ctx.state.acceptCommit(rev: commit.rev, op: op, account: account) else {
                ctx.totals.duplicates += 1
                return
            }
            // The bot's own posts never earn XP or trigger rules: no loops.
            if account == ctx.state.botAccount {
                ctx.totals.ownEvents += 1
                return
            }
            guard let rkey else { return }
            let targets = routes[collection]
            ctx.selectRecord(GrantKey(account: account, collection: UInt16(truncatingIfNeeded: collection), rkey: rkey),
                             operation: commit.operation)
            ctx.currentCID = commit.cid
            ctx.currentRecord = commit.record
            for index in targets { plugins[index].handle(event, in: ctx) }
            ctx.currentCID = nil
            ctx.currentRecord = nil
        case .identity:
            var handle: String?
            if let text = event.body[Keys.handle].string {
                handle = Handle.normalized(text)
                if handle == nil && text != "handle.invalid" { limits.hit(.invalidHandle, text) }
            }
            guard ctx.state.applyIdentity(account: account, handle: handle, seq: event.body[Keys.seq].int64,
                                          timeUS: event.timeUS) else {
                ctx.totals.duplicates += 1
                return
            }
        case .account:
            let status = event.body[Keys.active].bool == true ? "active" : event.body[Keys.status].string ?? "inactive"
            guard let (before, after) = ctx.state.applyAccountStatus(account: account, status: status, seq: event.body[Keys.seq].int64,
                                                                     timeUS: event.timeUS) else {
                ctx.totals.duplicates += 1
                return
            }
            if after != 0 && before == 0 { ctx.addBarrier(.cancelAnnouncements(account: account)) }
            // Deactivating or deleting an account opts it out (leveling spec, Consent);
            // a takedown or suspension only pauses it.
            if (status == "deactivated" || status == "deleted") && ctx.state.accounts[id].consent != .none {
                ctx.setConsent(.optedOut, source: "account:\(status)")
            }
            if status == "deleted" && !ctx.state.accounts[id].purged { ctx.schedulePurge(account) }
        }
    }

    /// Whether another partition's event is one this host applies too (a commit of a
    /// collection other accounts' rules read).
    private func isCrossPartition(_ event: Event) -> Bool {
        guard let bytes = event.commit?.collection.unescapedBytes else { return false }
        return isCrossPartition(collection: bytes)
    }

    private func addRoute(_ collection: Int) {
        let nsid = context.state.collections.string(collection)
        var targets: [Int] = []
        for (index, plugin) in plugins.enumerated() where plugin.collections.contains(where: { Self.matches(nsid, $0) }) {
            targets.append(index)
        }
        routes.append(targets)
        collectionHashes.append(FNV1a.hash(nsid.utf8))
    }

    /// Whether a collection matches a wanted pattern (exact NSID, `prefix.*`, or `*` for all).
    public static func matches(_ nsid: String, _ pattern: String) -> Bool {
        if pattern == "*" { return true }
        if pattern.hasSuffix(".*") { return nsid.hasPrefix(pattern.dropLast(1)) }
        return nsid == pattern
    }
}

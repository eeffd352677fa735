import Rules
import XRPCClient

/// The host's in-memory state and the effects of the current batch: the only way a
/// plugin changes anything.
///
/// State lives in flat tables keyed by interned integers (state.accounts, state.collections,
/// record keys), so applying an event costs a few hash probes and no allocation. The
/// store is written from ``closeBatch()`` snapshots, one transaction per batch, together
/// with the cursor; the memory state is rebuilt from the store at start-up.
///
/// - Note: Not thread-safe: one processing thread owns a context.
public final class PluginContext {
    /// Levels, milestones and announcement text (a reloaded rule pack may change them,
    /// between two events).
    public var progression: Progression

    /// The host's tables: interned ids, account states, state.grants, state.limits, shadow totals.
    public let state = HostState()
    /// Per counter index: the counter it rolls up into, and that counter's bucket size.
    var rollups: [(UInt16, Int64)?] = []

    /// A registered rule: plugin, rule name and version.
    public struct RuleInfo: Sendable, Hashable {
        public var plugin: String
        public var rule: String
        public var version: String

        package init(plugin: String, rule: String, version: String) {
            self.plugin = plugin
            self.rule = rule
            self.version = version
        }
    }

    // The event being applied.
    /// The current commit's record CID and record (valid during ``Plugin/handle(_:in:)``):
    /// an announcement replies to the post that triggered it.
    var currentCID: JSONValue?
    var currentRecord: JSONValue?
    /// Account id of the current event's DID.
    public private(set) var account: UInt32 = 0
    var currentKey = GrantKey(account: 0, collection: 0, rkey: 0)
    var currentOperation: CommitOperation = .create
    var currentTimeUS: Int64 = 0

    // The open batch.
    /// The rows of the open batch, in event order.
    var open = BatchBuilder()
    /// Which grants stay in memory and who answers for the rest (hot window, partitions).
    public let residency = GrantResidency()
    /// The milestones a shadow pack announces (nil: the live ones).
    public var shadowMilestoneLevels: [Int]?
    /// Ranking-change events with hysteresis; nil when switched off.
    package var rankTracker: RankTracker?
    /// On a partitioned host: this host's part of the ranking feed, and the decisions
    /// made from every partition's (docs/scaling.md).
    var rankPublisher: RankPublisher?
    var rankDecider: RankDecider?
    var pendingDecision: RankDecision?
    /// Templates of ranking announcements: `{handle}`, `{n}`, `{window}`, `{rank}`.
    public var rankAnnouncement = "{handle} entered the top {n} of the {window}!"
    public var rankFirstAnnouncement = "{handle} is the new #1 of the {window}!"
    /// Events applied since the batch opened.
    public var batchEvents: Int { open.events }
    /// Seasons (`seasons:` in the config); nil: none.
    public var seasons: SeasonCalendar?
    /// The end of the last season handed to the store for archiving.
    package var seasonsThroughUS: Int64?
    /// Stream time of the first event this context applied (0: none yet).
    package var firstEventUS: Int64 = 0
    /// Changes each time a batch is closed: per-batch budgets of a plugin start again.
    public var batchNumber: UInt32 { state.epoch }
    /// Highest event time applied, stored as the cursor.
    public package(set) var cursorUS: Int64 = 0

    /// Totals since this context was created, for the run summary.
    public internal(set) var totals = Totals()

    /// Counters a run reports.
    public struct Totals: Sendable {
        public var events = 0
        public var duplicates = 0
        /// Commits of state.collections no plugin reads (dropped, as a live subscription would).
        public var filtered = 0
        public var xpGranted: Int64 = 0
        public var xpRevoked: Int64 = 0
        public var milestones = 0
        public var announcements = 0
        /// Commits of the bot's own account (never rewarded: no loops).
        public var ownEvents = 0
        /// Other partitions' events passed on their DID (their owner applies them).
        public var foreign = 0
    }

    /// How long deleted accounts' rows and analytics counters are kept.
    public var retention: RetentionPolicy
    /// The stream day of the last retention pass.
    var retentionDay: Int64 = -1

    /// - Parameters:
    ///   - progression: levels, milestones and the announcement text.
    ///   - retentionDays: days a deleted account's rows are kept (default 30).
    ///   - rankings: ranking-change events (nil: none).
    public init(progression: Progression, retentionDays: Int = 30, rankings: RankingOptions? = RankingOptions()) {
        self.progression = progression
        self.retention = RetentionPolicy(deletedAccountDays: retentionDays)
        if let rankings, rankings.enabled, !rankings.thresholds.isEmpty { rankTracker = RankTracker(options: rankings) }
    }

    // MARK: - Registration

    /// Registers (or finds) a rule so ledger entries can name it.
    public func registerRule(plugin: String, rule: String, version: String) -> RuleRef {
        let info = RuleInfo(plugin: plugin, rule: rule, version: version)
        if let index = state.rules.firstIndex(of: info) { return RuleRef(index: UInt16(index)) }
        guard state.rules.count < Int(UInt16.max) else { return RuleRef(index: UInt16.max - 1) }
        state.rules.append(info)
        state.newRules.append((state.rules.count - 1, info))
        return RuleRef(index: UInt16(state.rules.count - 1))
    }

    /// Registers (or finds) a counter by name.
    public func registerCounter(_ name: String) -> CounterRef {
        if let index = state.counterNames.firstIndex(of: name) { return CounterRef(index: UInt16(index)) }
        // Counters come from packs and from collections (capped): the table never fills,
        // but a full one shares its last counter rather than trap.
        guard state.counterNames.count < Int(UInt16.max) else { return CounterRef(index: UInt16.max - 1) }
        state.counterNames.append(name)
        state.newCounterNames.append((state.counterNames.count - 1, name))
        return CounterRef(index: UInt16(state.counterNames.count - 1))
    }

    /// Makes every increment of `counter` also count, at batch close, in `target`'s bucket
    /// of `seconds` containing it: one increment per event on the hot path feeds both an
    /// hourly and a daily counter.
    public func rollUp(_ counter: CounterRef, into target: CounterRef, bucketSeconds seconds: Int64) {
        while rollups.count <= Int(counter.index) { rollups.append(nil) }
        rollups[Int(counter.index)] = (target.index, seconds)
    }

    /// Adds `amount` to the current account's `counter` in the bucket starting at
    /// `bucketStart` (unix seconds). Counts are exact across replays because duplicates
    /// never reach plugins.
    @inline(__always)
    public func increment(_ counter: CounterRef, bucketStart: Int64, by amount: Int64 = 1) {
        open.counters.add(CounterTable.Key(bucket: bucketStart, account: account, counter: counter.index), amount)
    }

    /// The current event's time, in microseconds.
    public var eventTimeUS: Int64 { currentTimeUS }

    /// The current commit's operation.
    public var operation: CommitOperation { currentOperation }

    /// The id a collection named in a record (a like's subject) has, without interning
    /// it: nil when the host never saw a record of it, so it can hold no grant. A
    /// collection seen past the cap answers the shared "other" id.
    public func knownCollectionID(_ nsid: UnsafeRawBufferPointer) -> UInt16? {
        if let id = state.collections.find(nsid) { return UInt16(id) }
        return state.collections.find(HostState.otherCollectionName).map { UInt16($0) }
    }

    /// The interned id of a collection NSID a plugin reads (registration time: bounded
    /// by the loaded packs, not by the stream).
    public func collectionID(_ nsid: String) -> UInt16 {
        var nsid = nsid
        return UInt16(nsid.withUTF8 { state.internNamedCollection(UnsafeRawBufferPointer($0)) })
    }


    // MARK: - Effects

    /// Grants `amount` XP for the current commit's record, with the spec's idempotency:
    /// a create of a key with a live grant changes nothing, an update re-grades a live
    /// grant by the difference, an update of an unknown key changes nothing.
    public func grant(amount: Int, tag: UInt8 = 0, rule: RuleRef) {
        keyedGrant(currentKey, amount: Int32(clamping: amount), tag: tag, rule: rule, shadow: false)
    }

    /// The grant mechanism of the live and the shadow ledger (``shadowGrant(amount:tag:rule:)``).
    @inline(__always)
    func keyedGrant(_ key: GrantKey, amount: Int32, tag: UInt8, rule: RuleRef, shadow: Bool) {
        switch currentOperation {
        case .create:
            guard loadGrant(key) == nil else { return }
            storeGrant(key, Grant(amount: amount, tag: tag, rule: rule.index))
            record(key, .grant, amount, rule, shadow: shadow)
        case .update:
            guard let old = loadGrant(key) else { return }
            storeGrant(key, Grant(amount: amount, tag: tag, rule: rule.index))
            let delta = amount - old.amount
            guard delta != 0 || old.tag != tag else { return }
            record(key, .regrade, delta, rule, shadow: shadow)
        case .delete:
            return
        }
    }

    /// Revokes the live or shadow grant of `key`, if any.
    @inline(__always)
    func keyedRevoke(_ key: GrantKey, rule: RuleRef, shadow: Bool) {
        guard let old = removeGrant(key) else { return }
        record(key, .revoke, -old.amount, rule, shadow: shadow)
    }

    /// Appends a ledger entry and moves the XP, of the live or the shadow ledger.
    @inline(__always)
    private func record(_ key: GrantKey, _ kind: LedgerEntry.Kind, _ amount: Int32, _ rule: RuleRef, shadow: Bool) {
        if shadow {
            appendShadowLedger(key, kind, amount, rule)
            addShadowXP(Int64(amount))
        } else {
            appendLedger(kind, amount, rule)
            addXP(Int64(amount))
        }
    }

    /// Grants for the current record under another collection id: a plugin that adds
    /// its own bonus for a record another plugin already rewards (e.g. a posting streak)
    /// keys its grant apart, so neither hides the other. Revoke it with
    /// ``revoke(rule:keyedAs:)`` when the record is deleted.
    public func grant(amount: Int, tag: UInt8 = 0, rule: RuleRef, keyedAs collection: UInt16) {
        let saved = currentKey
        currentKey.collection = collection
        defer { currentKey = saved }
        grant(amount: amount, tag: tag, rule: rule)
    }

    /// Revokes a grant made with ``grant(amount:tag:rule:keyedAs:)``.
    public func revoke(rule: RuleRef, keyedAs collection: UInt16) {
        let saved = currentKey
        currentKey.collection = collection
        defer { currentKey = saved }
        revoke(rule: rule)
    }

    /// Revokes the live grant of the current commit's record, if any (a delete).
    public func revoke(rule: RuleRef) {
        keyedRevoke(currentKey, rule: rule, shadow: false)
    }

    /// Interns an account by DID with an empty in-memory state; on a partitioned host an
    /// account of another partition is marked foreign.
    @inline(__always)
    package func internAccount(_ did: UnsafeRawBufferPointer) -> (id: Int, isNew: Bool) {
        let (id, isNew) = state.dids.intern(did)
        if isNew {
            state.accounts.append(AccountState())
            state.handles.append(nil)
            if residency.isOthers(did: did) { residency.markForeign(UInt32(id)) }
        }
        return (id, isNew)
    }

    package func internAccount(_ did: String) -> (id: Int, isNew: Bool) {
        var did = did
        return did.withUTF8 { internAccount(UnsafeRawBufferPointer($0)) }
    }


    /// The live grant of a record named by its author DID, collection and record key;
    /// `nil` when the host has not seen it created, or saw it deleted.
    public func liveGrant(did: UnsafeRawBufferPointer, collection: UInt16, rkey: UnsafeRawBufferPointer) -> Grant? {
        guard let key = state.recordKey(rkey, intern: false) else { return nil }
        var found = state.dids.find(did)
        if found == nil, residency.isOthers(did: did) {
            // Another partition's author this host has not met in this run: its records are
            // its owner's to tell (loadGrant asks the store for records older than the run).
            found = internAccount(did).id
        }
        guard let author = found else { return nil }
        let grantKey = GrantKey(account: UInt32(author), collection: collection, rkey: key)
        // A partitioned host re-applying another partition's events from before its stored
        // cursor (to rebuild their state) holds its own records as of that cursor: what one
        // of those events reads of them is asked of the ledger as of the event's time.
        if currentTimeUS <= residency.catchUpUntilUS, residency.isForeign(account), !residency.isForeign(UInt32(author)),
           let answer = residency.coldGrants?.grant(grantKey, before: currentTimeUS) {
            return answer
        }
        return loadGrant(grantKey)
    }

    /// Records the current account's consent and where it came from (e.g. the URI of the
    /// command post); opting out cancels queued announcements.
    public func setConsent(_ consent: Consent, source: String = "plugin") {
        guard state.accounts[Int(account)].consent != consent else { return }
        state.accounts[Int(account)].consent = consent
        state.markProfileDirty(account)
        open.open.consentChanges.append(ConsentChange(account: account, consent: consent, source: source, timeUS: currentTimeUS))
        if consent == .optedOut { addBarrier(.cancelAnnouncements(account: account)) }
    }

    /// Takes the current account off the leaderboards (`ranked` false) or puts it back:
    /// the account's own choice, apart from a moderator's `exclude`.
    public func setRanked(_ ranked: Bool, source: String) {
        open.open.rankingChanges.append((account, ranked))
        rankTracker?.setRanked(account, ranked)
        open.open.consentChanges.append(ConsentChange(account: account, consent: state.accounts[Int(account)].consent,
                                            source: (ranked ? "rank me: " : "no rank: ") + source, timeUS: currentTimeUS))
    }

    /// The AT URI of the current commit's record.
    public var currentRecordURI: String {
        "at://\(state.dids.string(Int(account)))/\(state.collections.string(Int(currentKey.collection)))/\(state.rkeyString(currentKey.rkey))"
    }

    /// Queues a short reply to the current post (a consent command's confirmation), once
    /// per post: keyed by the post's URI. The dispatcher rate-state.limits these per account.
    public func queueReply(kind: String, text: String) {
        guard let parent = currentStrongRef() else { return }
        let did = state.dids.string(Int(account))
        let json = JSONWriter()
        json.object {
            json.field("type", kind)
            json.field("did", did)
            json.field("handle", state.handles[Int(account)] ?? "")
            json.field("text", text)
            writeReplyFields(json, parent: parent)
        }
        open.open.outbox.append(OutboxRow(key: "\(kind):\(parent.uri)", account: account, kind: kind, payload: json.output,
                                createdUS: currentTimeUS))
    }

    /// The current record as a strong reference, when it is a post with a CID.
    private func currentStrongRef() -> (uri: String, cid: String, rootURI: String?, rootCID: String?)? {
        guard currentOperation != .delete, let cid = currentCID?.string, let record = currentRecord,
              state.collections.string(Int(currentKey.collection)) == "app.bsky.feed.post" else { return nil }
        let root = record["reply"]["root"]
        return (currentRecordURI, cid, root["uri"].string, root["cid"].string)
    }

    private func writeReplyFields(_ json: JSONWriter, parent: (uri: String, cid: String, rootURI: String?, rootCID: String?)) {
        json.field("parent_uri", parent.uri)
        json.field("parent_cid", parent.cid)
        // A reply to a reply keeps the thread's root.
        json.field("root_uri", parent.rootURI ?? parent.uri)
        json.field("root_cid", parent.rootCID ?? parent.cid)
    }

    /// Collection id of the current commit.
    public var currentCollection: UInt16 { currentKey.collection }

    /// The current account's DID (allocates: for rare paths such as consent).
    public var currentDID: String { state.dids.string(Int(account)) }

    /// The current account's consent.
    public var consent: Consent { state.accounts[Int(account)].consent }

    /// The current account's XP.
    public var xp: Int64 { state.accounts[Int(account)].xp }

    /// The current account's level.
    public var level: Int { Int(state.accounts[Int(account)].level) }

    // MARK: - Internals

    @inline(__always)
    private func appendLedger(_ kind: LedgerEntry.Kind, _ amount: Int32, _ rule: RuleRef) {
        appendLedger(LedgerEntry(account: currentKey.account, collection: currentKey.collection, kind: kind,
                                  rule: rule.index, rkey: currentKey.rkey, amount: amount, timeUS: currentTimeUS))
    }

    /// Adds XP to the current account (never below 0), re-levels it and records any
    /// milestone reached for the first time.
    func addXP(_ delta: Int64) {
        let index = Int(account)
        let before = state.accounts[index].xp
        // Saturating: XP is never negative and never wraps, whatever a moderator or a pack asks.
        let (sum, overflow) = before.addingReportingOverflow(delta)
        let after = overflow ? (delta > 0 ? .max : 0) : max(0, sum)
        state.accounts[index].xp = after
        func saturatingAdd(_ total: inout Int64, _ amount: Int64) {
            let (sum, overflow) = total.addingReportingOverflow(amount)
            total = overflow ? .max : sum
        }
        if after > before { saturatingAdd(&totals.xpGranted, after - before) } else { saturatingAdd(&totals.xpRevoked, before - after) }
        let level = Int32(clamping: progression.curve.level(forXP: after))
        state.accounts[index].level = level
        let reached = state.accounts[index].maxLevel
        guard level > reached else { return }
        state.accounts[index].maxLevel = level
        for milestone in progression.milestones where milestone > Int(reached) && milestone <= Int(level) {
            reachMilestone(milestone, xp: after)
        }
    }

    private func reachMilestone(_ level: Int, xp: Int64) {
        open.open.milestones.append(MilestoneRow(account: account, level: Int32(level), timeUS: currentTimeUS))
        totals.milestones += 1
        let held = state.accounts[Int(account)]
        guard held.consent.allowsAnnouncements, held.status == 0 else { return }
        let did = state.dids.string(Int(account))
        let handle = state.handles[Int(account)] ?? ""
        let text = progression.renderAnnouncement(handle: handle, did: did, level: level, xp: xp)
        let json = JSONWriter()
        json.object {
            json.field("type", "milestone")
            json.field("did", did)
            json.field("handle", handle)
            json.field("level", level)
            json.field("xp", Int(xp))
            json.field("text", text)
            json.field("mention", held.consent == .optedIn)
            json.field("subject", currentSubjectURI(did: did))
            if let parent = currentStrongRef() { writeReplyFields(json, parent: parent) }
        }
        open.open.outbox.append(OutboxRow(key: "milestone:\(did):\(level)", account: account, kind: "milestone",
                                payload: json.output, createdUS: currentTimeUS))
        totals.announcements += 1
    }

    private func currentSubjectURI(did: String) -> String {
        let collection = state.collections.string(Int(currentKey.collection))
        return "at://\(did)/\(collection)/\(state.rkeyString(currentKey.rkey))"
    }





    /// Selects the account that the following effects apply to.
    @inline(__always)
    func select(account id: UInt32, timeUS: Int64) {
        account = id
        currentTimeUS = timeUS
    }

    func selectRecord(_ key: GrantKey, operation: CommitOperation) {
        currentKey = key
        currentOperation = operation
    }
}

/// A milestone reached, as stored.
public struct MilestoneRow: Sendable {
    public var account: UInt32
    public var level: Int32
    public var timeUS: Int64
}

/// An announcement queued for the dispatcher.
public struct OutboxRow: Sendable {
    /// Idempotency key, e.g. `milestone:did:plc:…:10`: never queued twice.
    public var key: String
    public var account: UInt32
    public var kind: String
    /// JSON the dispatcher posts from.
    public var payload: String
    /// Time of the event that caused it (announcements of old events are not posted).
    public var createdUS: Int64

}

/// A consent change and where it came from.
public struct ConsentChange: Sendable {
    public var account: UInt32
    public var consent: Consent
    /// What changed it: the command post's URI, `follow`, `block`, `account:deactivated`, …
    public var source: String
    public var timeUS: Int64
}

/// A moderator's request, queued in the `commands` table and applied by the host that
/// owns the database (in its next batch), or by the CLI when no host runs.
public struct ModeratorCommand: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case adjust, purge
        /// XP brought from another bot (`bothost import accounts`): a keyed grant per
        /// account and file, so a file imported twice changes nothing the second time.
        /// The reason starts with `import TAG` (the file's content tag).
        case `import`
        /// A moderator's exclusion from the rankings, already written and audited by the
        /// store: the running host takes it into its rank tracker at the next batch.
        case exclude, include
    }
    /// The amounts an adjustment may have: enough for any correction, small enough that
    /// a ledger entry holds it exactly and no sum of them wraps.
    public static let adjustRange: ClosedRange<Int64> = -1_000_000_000...1_000_000_000

    public var id: Int64
    public var kind: Kind
    public var did: String
    public var amount: Int64
    public var reason: String
    public var actor: String

    public init(id: Int64, kind: Kind, did: String, amount: Int64, reason: String, actor: String) {
        self.id = id
        self.kind = kind
        self.did = did
        self.amount = amount
        self.reason = reason
        self.actor = actor
    }
}

extension PluginContext {
    /// The collection that moderator adjustments are recorded under in the ledger.
    static let moderationCollection = "bothost.moderation"
    /// The collection imported XP is keyed under (record key `imp-TAG`).
    static let importCollection = "bothost.import"

    /// Applies moderator commands to the in-memory state; their effects, the commands'
    /// results and the audit lines are written with the next batch, in one transaction.
    public func apply(_ commands: [ModeratorCommand]) {
        let rule = registerRule(plugin: "moderation", rule: "adjust", version: "1")
        let collection = collectionID(Self.moderationCollection)
        for command in commands {
            if command.kind == .import {
                applyImport(command)
                continue
            }
            guard let id = state.dids.find(command.did) else {
                open.commandsApplied.append((command.id, "unknown account"))
                continue
            }
            let account = UInt32(id)
            state.markDirty(account)
            switch command.kind {
            case .adjust:
                guard ModeratorCommand.adjustRange.contains(command.amount) else {
                    open.commandsApplied.append((command.id, "refused: amount outside ±\(ModeratorCommand.adjustRange.upperBound)"))
                    continue
                }
                select(account: account, timeUS: max(cursorUS, 0))
                var key = Array("cmd-\(command.id)".utf8)
                let rkey = key.withUnsafeMutableBytes { state.recordKey(UnsafeRawBufferPointer($0), intern: true)! }
                selectRecord(GrantKey(account: account, collection: collection, rkey: rkey), operation: .create)
                let before = state.accounts[id].xp
                appendLedger(LedgerEntry(account: account, collection: collection, kind: .adjust, rule: rule.index,
                                          rkey: rkey, amount: Int32(clamping: command.amount), timeUS: currentTimeUS))
                addXP(command.amount)
                let result = "xp \(before) → \(state.accounts[id].xp), level \(state.accounts[id].level)"
                open.commandsApplied.append((command.id, result))
                open.audits.append((command.actor, "adjust", command.did, "\(command.amount > 0 ? "+" : "")\(command.amount): \(command.reason) (\(result))"))
            case .import:
                break  // above
            case .exclude, .include:
                rankTracker?.setExcluded(account, command.kind == .exclude)
                open.commandsApplied.append((command.id, command.kind == .exclude ? "excluded" : "included"))
            case .purge:
                purge([account])
                open.commandsApplied.append((command.id, "purged"))
                open.audits.append((command.actor, "purge", command.did, command.reason))
            }
        }
    }

    /// One account of an import: a grant keyed by the account and the file's tag, under
    /// the rule `moderation/import`; the account is created when it is new here.
    private func applyImport(_ command: ModeratorCommand) {
        let parts = command.reason.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0] == "import", parts[1].count == 16 || parts[1].count == 17,
              (0...AccountImport.maxXP).contains(command.amount) else {
            open.commandsApplied.append((command.id, "refused: not an import command of bothost import accounts"))
            return
        }
        let tag = parts[1].hasSuffix(":") ? parts[1].dropLast() : parts[1]
        let (id, _) = internAccount(command.did)
        let account = UInt32(id)
        state.markDirty(account)
        select(account: account, timeUS: max(cursorUS, 0))
        var key = Array("imp-\(tag)".utf8)
        let rkey = key.withUnsafeMutableBytes { state.recordKey(UnsafeRawBufferPointer($0), intern: true)! }
        let grantKey = GrantKey(account: account, collection: collectionID(Self.importCollection), rkey: rkey)
        selectRecord(grantKey, operation: .create)
        if loadGrant(grantKey) != nil {
            open.commandsApplied.append((command.id, "already imported from this file"))
            return
        }
        let before = state.accounts[id].xp
        let rule = registerRule(plugin: "moderation", rule: "import", version: "1")
        keyedGrant(grantKey, amount: Int32(command.amount), tag: 0, rule: rule, shadow: false)
        let result = "xp \(before) → \(state.accounts[id].xp), level \(state.accounts[id].level)"
        open.commandsApplied.append((command.id, result))
        open.audits.append((command.actor, "import", command.did, "+\(command.amount): \(command.reason) (\(result))"))
    }
}

/// Ranking-change events with hysteresis ("entered the top 10 of the day", "new #1 of the
/// day"), decided at stream-time boundaries (`checkEvery`) from in-memory window scores.
///
/// Scores are kept incrementally per hour of event time: each batch adds its net XP per
/// (hour, account) and hours that leave the window are subtracted, so an evaluation costs
/// one pass over the accounts with a positive score, never a scan of the ledger. The
/// window is the last `windowSeconds / 3600` whole hours including the current one (hour
/// granularity: the leaderboards themselves stay exact to the microsecond).
///
/// Hysteresis: an account enters a top N at rank ≤ N; it leaves only after it has ranked
/// below N + `margin` (or not at all) continuously for `leaveAfterUS` of stream time, so
/// nobody flaps in and out around the boundary.
public struct RankingOptions: Sendable, Equatable {
    public var enabled = true
    /// `hour` or `day` (the watched window).
    public var window = "day"
    public var thresholds: [Int] = [1, 10, 100]
    public var margin = 5
    public var leaveAfterUS: Int64 = 30 * 60 * 1_000_000
    /// How often (stream time) the ranks are evaluated.
    public var checkEveryUS: Int64 = 60 * 1_000_000
    /// Announce entries (opted-in accounts only).
    public var announce = true
    public init() {}

    public var windowSeconds: Int64 { window == "hour" ? 3_600 : 86_400 }
}

/// A decided ranking change.
public struct RankEvent: Sendable, Equatable {
    public enum Kind: String, Sendable { case entered, left }
    public var kind: Kind
    public var account: UInt32
    public var threshold: Int
    /// The rank at the time (nil when the account had no score left).
    public var rank: Int?
    public var timeUS: Int64
}

package final class RankTracker {
    package var options: RankingOptions
    /// Window score by account id.
    private var score: [Int64] = []
    /// Hour buckets in the window, ascending by hour (unix seconds): net XP per account,
    /// subtracted from the scores when the hour leaves the window. Memory grows with the
    /// accounts active per hour times the hours in the window (docs/rankings.md).
    private var hours: [(hour: Int64, amounts: [UInt32: Int64])] = []
    /// Per threshold: members and since when they have been out of range.
    package var members: [Int: [UInt32: (enteredUS: Int64, outSinceUS: Int64?)]] = [:]
    package var lastCheckUS: Int64 = .min
    /// Accounts off the boards by their own choice or a moderator's: what the checks read.
    package private(set) var unranked = Set<UInt32>()
    /// Off by their own choice (`no rank`; `rank me` undoes it).
    private var selfUnranked = Set<UInt32>()
    /// Off by a moderator's exclusion, which no self-service command undoes.
    private var excluded = Set<UInt32>()

    /// An account's own choice (`no rank` / `rank me`): a moderator's exclusion still wins.
    package func setRanked(_ account: UInt32, _ ranked: Bool) {
        if ranked {
            selfUnranked.remove(account)
            if !excluded.contains(account) { unranked.remove(account) }
        } else {
            selfUnranked.insert(account)
            unranked.insert(account)
        }
    }

    /// A moderator's exclusion (or its end).
    package func setExcluded(_ account: UInt32, _ isExcluded: Bool) {
        if isExcluded {
            excluded.insert(account)
            unranked.insert(account)
        } else {
            excluded.remove(account)
            if !selfUnranked.contains(account) { unranked.remove(account) }
        }
    }

    init(options: RankingOptions) {
        self.options = options
        for threshold in options.thresholds { members[threshold] = [:] }
    }

    /// Adds net XP of an hour (unix seconds) for an account.
    package func add(hour: Int64, account: UInt32, amount: Int64) {
        while score.count <= Int(account) { score.append(0) }
        if let last = hours.last, last.hour == hour {
            hours[hours.count - 1].amounts[account, default: 0] += amount
        } else if let index = hours.firstIndex(where: { $0.hour == hour }) {
            hours[index].amounts[account, default: 0] += amount
        } else {
            let index = hours.firstIndex(where: { $0.hour > hour }) ?? hours.count
            hours.insert((hour, [account: amount]), at: index)
        }
        score[Int(account)] += amount
    }

    /// Drops hours that left the window ending at `nowUS`.
    private func expire(nowUS: Int64) {
        let nowHour = Self.hourOf(nowUS)
        let first = nowHour - options.windowSeconds + 3_600
        while let oldest = hours.first, oldest.hour < first {
            for (account, amount) in oldest.amounts { score[Int(account)] -= amount }
            hours.removeFirst()
        }
    }

    package static func hourOf(_ us: Int64) -> Int64 {
        let seconds = us >= 0 ? us / 1_000_000 : (us - 999_999) / 1_000_000
        return seconds - ((seconds % 3_600) + 3_600) % 3_600
    }

    /// Whether an hour is inside the window ending at `nowUS` (older hours are ignored).
    func inWindow(hour: Int64, nowUS: Int64) -> Bool {
        hour >= Self.hourOf(nowUS) - options.windowSeconds + 3_600
    }

    /// Ranks the eligible accounts and decides the changes, with hysteresis.
    func evaluate(nowUS: Int64, eligible: (UInt32) -> Bool, did: (UInt32) -> String) -> [RankEvent] {
        expire(nowUS: nowUS)
        lastCheckUS = nowUS
        guard let largest = options.thresholds.max() else { return [] }
        let keep = largest + options.margin
        // The top `keep` by score, ties by DID: the keep-th best score first (a bounded
        // min-heap, one pass), then only the accounts at or above it are sorted.
        var heap = MinHeap(capacity: keep)
        for (index, value) in score.enumerated() where value > 0 && (heap.count < keep || value > heap.minimum) && eligible(UInt32(index)) {
            heap.offer(value)
        }
        let cut = heap.count < keep ? 1 : heap.minimum
        var candidates: [(account: UInt32, score: Int64)] = []
        for (index, value) in score.enumerated() where value >= cut && value > 0 && eligible(UInt32(index)) {
            candidates.append((UInt32(index), value))
        }
        let ranked = candidates.map { ($0.account, $0.score, did($0.account)) }
            .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.2 < $1.2 }
            .prefix(keep)
        var rankOf: [UInt32: Int] = [:]
        for (index, entry) in ranked.enumerated() { rankOf[entry.0] = index + 1 }
        var events: [RankEvent] = []
        for threshold in options.thresholds.sorted() {
            var group = members[threshold] ?? [:]
            for (account, rank) in rankOf where rank <= threshold && group[account] == nil {
                group[account] = (nowUS, nil)
                events.append(RankEvent(kind: .entered, account: account, threshold: threshold, rank: rank, timeUS: nowUS))
            }
            for (account, state) in group {
                let rank = rankOf[account]
                if let rank, rank <= threshold + options.margin {
                    if state.outSinceUS != nil { group[account] = (state.enteredUS, nil) }
                } else if let since = state.outSinceUS {
                    if nowUS - since >= options.leaveAfterUS {
                        group[account] = nil
                        events.append(RankEvent(kind: .left, account: account, threshold: threshold, rank: rank, timeUS: nowUS))
                    }
                } else {
                    group[account] = (state.enteredUS, nowUS)
                }
            }
            members[threshold] = group
        }
        return events.sorted { ($0.threshold, $0.account, $0.kind.rawValue) < ($1.threshold, $1.account, $1.kind.rawValue) }
    }
}

/// A fixed-capacity min-heap of scores: after a pass, `minimum` is the capacity-th best.
struct MinHeap {
    private var items: [Int64] = []
    let capacity: Int
    init(capacity: Int) {
        self.capacity = max(1, capacity)
        items.reserveCapacity(self.capacity)
    }
    var count: Int { items.count }
    var minimum: Int64 { items.first ?? .min }

    mutating func offer(_ value: Int64) {
        if items.count < capacity {
            items.append(value)
            var child = items.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard items[child] < items[parent] else { break }
                items.swapAt(child, parent)
                child = parent
            }
        } else if value > items[0] {
            items[0] = value
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < items.count && items[left] < items[smallest] { smallest = left }
                if right < items.count && items[right] < items[smallest] { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
    }
}

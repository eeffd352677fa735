/// The bot account's write budget (Bluesky: create = 3 points, update = 2, delete = 1;
/// 5,000 points an hour and 35,000 a day), kept with headroom so the bot never hits it.
///
/// Local counts are sliding windows over every write the store recorded (stricter than
/// the server's fixed windows, so never over them). When the server has told its own
/// figures (`RateLimit-Remaining` until `RateLimit-Reset`), those win for the hourly
/// decision: they also count writes this host did not make.
public struct WriteBudget: Sendable, Equatable {
    public var hourlyPoints: Int
    public var dailyPoints: Int
    /// The share of each budget never used, in percent.
    public var headroomPercent: Int

    public init(hourlyPoints: Int = 5_000, dailyPoints: Int = 35_000, headroomPercent: Int = 10) {
        self.hourlyPoints = hourlyPoints
        self.dailyPoints = dailyPoints
        self.headroomPercent = headroomPercent
    }

    public static let createPoints = 3

    /// `nil` when `points` can be spent now; otherwise the time (µs) to try again.
    public func waitUntil(points: Int, state: WriteBudgetState, nowUS: Int64) -> Int64? {
        var until: Int64?
        func later(_ time: Int64) { until = max(until ?? time, time) }
        let hourCap = hourlyPoints * (100 - headroomPercent) / 100
        let dayCap = dailyPoints * (100 - headroomPercent) / 100
        let nowS = nowUS / 1_000_000
        let serverFresh = state.serverReset.map { $0 > nowS } ?? false
        if serverFresh, let remaining = state.serverRemaining {
            // The server's count wins; keep the same share of its limit unused.
            let reserve = (state.serverLimit ?? 0) * headroomPercent / 100
            if remaining - points < reserve {
                later((state.serverReset! + 1) * 1_000_000)
            }
        } else if state.spentLastHour + points > hourCap {
            later(Self.freedAt(state.hourWrites, need: state.spentLastHour + points - hourCap, window: 3_600_000_000))
        }
        if state.spentLastDay + points > dayCap {
            later(Self.freedAt(state.dayWrites, need: state.spentLastDay + points - dayCap, window: 86_400_000_000))
        }
        return until
    }

    /// When enough of the oldest writes leave the sliding window to free `need` points.
    static func freedAt(_ writes: [(timeUS: Int64, points: Int)], need: Int, window: Int64) -> Int64 {
        var freed = 0
        for write in writes.sorted(by: { $0.timeUS < $1.timeUS }) {
            freed += write.points
            if freed >= need { return write.timeUS + window + 1 }
        }
        return (writes.last?.timeUS ?? 0) + window + 1
    }
}

/// One season: a named span of stream time, `[startUS, endUS)`, whose net XP makes its own
/// leaderboard beside the all-time one, and whose top N is archived once it has ended.
public struct Season: Sendable, Equatable {
    public var name: String
    public var startUS: Int64
    public var endUS: Int64

    public init(name: String, startUS: Int64, endUS: Int64) {
        self.name = name
        self.startUS = startUS
        self.endUS = endUS
    }
}

/// Which seasons there are (`seasons:` in the config): calendar months, calendar quarters
/// (UTC), or an explicit list.
public struct SeasonCalendar: Sendable, Equatable {
    public enum Period: Sendable, Equatable {
        case monthly, quarterly
        case explicit([Season])
    }

    public var period: Period
    /// How many accounts a season's archive keeps.
    public var archiveTop: Int
    /// Stream time after a season's end before it is archived, so events a little late
    /// (Jetstream's order is by arrival) still count.
    public var graceUS: Int64
    /// The post to the opted-in accounts of an archive (`{handle}`, `{season}`, `{rank}`,
    /// `{xp}`); nil: no season-end announcements.
    public var announcement: String?

    public init(period: Period, archiveTop: Int = 10, graceUS: Int64 = 600_000_000, announcement: String? = nil) {
        self.period = period
        self.archiveTop = archiveTop
        self.graceUS = graceUS
        self.announcement = announcement
    }

    /// The season that holds `timeUS`, if any.
    public func season(containing timeUS: Int64) -> Season? {
        switch period {
        case .explicit(let seasons): return seasons.first { $0.startUS <= timeUS && timeUS < $0.endUS }
        case .monthly, .quarterly:
            let (year, month) = CivilDate.yearMonth(ofMicroseconds: timeUS)
            return calendarSeason(year: year, month: month)
        }
    }

    /// The season named `name` (`2026-12`, `2026-Q4`, or an explicit season's name).
    public func season(named name: String) -> Season? {
        switch period {
        case .explicit(let seasons): return seasons.first { $0.name == name }
        case .monthly:
            let parts = name.split(separator: "-")
            guard parts.count == 2, parts[1].count == 2, let year = Int(parts[0]), let month = Int(parts[1]), (1...12).contains(month),
                  (1970...9999).contains(year) else { return nil }
            return calendarSeason(year: year, month: month)
        case .quarterly:
            let parts = name.split(separator: "-")
            guard parts.count == 2, parts[1].count == 2, parts[1].first == "Q", let year = Int(parts[0]), let quarter = Int(parts[1].dropFirst()),
                  (1...4).contains(quarter), (1970...9999).contains(year) else { return nil }
            return calendarSeason(year: year, month: (quarter - 1) * 3 + 1)
        }
    }

    /// The seasons that ended (with their grace) by `cursorUS` and after `afterUS`, oldest first.
    public func ended(by cursorUS: Int64, after afterUS: Int64) -> [Season] {
        switch period {
        case .explicit(let seasons):
            return seasons.filter { $0.endUS > afterUS && $0.endUS + graceUS <= cursorUS }.sorted { $0.endUS < $1.endUS }
        case .monthly, .quarterly:
            guard cursorUS - graceUS > afterUS, var season = self.season(containing: max(afterUS, 0)) else { return [] }
            var out: [Season] = []
            if season.endUS <= afterUS, let next = self.season(containing: season.endUS) { season = next }
            while season.endUS + graceUS <= cursorUS {
                if season.endUS > afterUS { out.append(season) }
                guard let next = self.season(containing: season.endUS) else { break }
                season = next
                if out.count > 1_000 { break }
            }
            return out
        }
    }

    private func calendarSeason(year: Int, month: Int) -> Season {
        switch period {
        case .quarterly:
            let first = (month - 1) / 3 * 3 + 1
            let (endYear, endMonth) = first + 3 > 12 ? (year + 1, first + 3 - 12) : (year, first + 3)
            return Season(name: "\(year)-Q\((first - 1) / 3 + 1)", startUS: CivilDate.microseconds(year: year, month: first),
                          endUS: CivilDate.microseconds(year: endYear, month: endMonth))
        default:
            let (endYear, endMonth) = month == 12 ? (year + 1, 1) : (year, month + 1)
            let name = "\(year)-" + (month < 10 ? "0" : "") + String(month)
            return Season(name: name, startUS: CivilDate.microseconds(year: year, month: month),
                          endUS: CivilDate.microseconds(year: endYear, month: endMonth))
        }
    }
}

/// Civil (proleptic Gregorian, UTC) dates without Foundation.
public enum CivilDate {
    /// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
    public static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = month
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Microseconds since the epoch of the first instant of a month.
    public static func microseconds(year: Int, month: Int, day: Int = 1) -> Int64 {
        Int64(days(year: year, month: month, day: day)) * 86_400_000_000
    }

    /// Year and month of an instant.
    public static func yearMonth(ofMicroseconds us: Int64) -> (Int, Int) {
        let z = Int((us >= 0 ? us : us - 86_399_999_999) / 86_400_000_000) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month)
    }

    /// `YYYY-MM-DD` → microseconds of its first instant; nil for anything else.
    public static func parse(_ text: String) -> Int64? {
        let parts = text.split(separator: "-")
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        let us = microseconds(year: year, month: month, day: day)
        // Refuse 2026-02-30 and the like: the date must read back the same.
        guard yearMonth(ofMicroseconds: us) == (year, month) else { return nil }
        return us
    }
}

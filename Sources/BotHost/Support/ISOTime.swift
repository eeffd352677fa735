/// RFC 3339 UTC timestamps to and from microseconds since the epoch, without
/// Foundation: the v2 wire carries `time` as `2026-05-25T14:23:29.132431Z`.
public enum ISOTime {
    /// Formats `YYYY-MM-DDTHH:MM:SS.ffffffZ` (exactly six fractional digits, as Jetstream v2 does).
    public static func format(microseconds us: Int64) -> String {
        let seconds = us >= 0 ? us / 1_000_000 : (us - 999_999) / 1_000_000
        let micros = us - seconds * 1_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civil(fromDays: days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(micros, 6))Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.f…]Z` or with a `±HH:MM` offset; `nil` if malformed.
    /// Fractions beyond microseconds are truncated.
    public static func parseMicroseconds(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        func digits(_ start: Int, _ count: Int) -> Int64? {
            guard start + count <= bytes.count else { return nil }
            var value: Int64 = 0
            for i in start..<(start + count) {
                let d = bytes[i] &- UInt8(ascii: "0")
                guard d < 10 else { return nil }
                value = value * 10 + Int64(d)
            }
            return value
        }
        guard bytes.count >= 20,
              let year = digits(0, 4), bytes[4] == UInt8(ascii: "-"), let month = digits(5, 2), bytes[7] == UInt8(ascii: "-"),
              let day = digits(8, 2), bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t"),
              let hour = digits(11, 2), bytes[13] == UInt8(ascii: ":"), let minute = digits(14, 2),
              bytes[16] == UInt8(ascii: ":"), let second = digits(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var p = 19
        var micros: Int64 = 0
        if p < bytes.count && bytes[p] == UInt8(ascii: ".") {
            p += 1
            var scale: Int64 = 100_000
            let start = p
            while p < bytes.count, bytes[p] &- UInt8(ascii: "0") < 10 {
                if scale > 0 { micros += Int64(bytes[p] - UInt8(ascii: "0")) * scale }
                scale /= 10
                p += 1
            }
            guard p > start else { return nil }
        }
        guard p < bytes.count else { return nil }
        var offsetSeconds: Int64 = 0
        switch bytes[p] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            p += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard let oh = digits(p + 1, 2), bytes.count > p + 3, bytes[p + 3] == UInt8(ascii: ":"), let om = digits(p + 4, 2) else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (bytes[p] == UInt8(ascii: "+") ? 1 : -1)
            p += 6
        default:
            return nil
        }
        guard p == bytes.count else { return nil }
        let days = days(fromCivil: year, month, day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return seconds * 1_000_000 + micros
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func days(fromCivil y: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y - 1 : y
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays z: Int64) -> (Int64, Int64, Int64) {
        let z = z + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}

/// An arithmetic level curve: going from level n to n+1 costs `base + step·(n−1)` XP.
///
/// Level 1 is at 0 XP, so the XP that reaches level L is
/// `base·(L−1) + step·(L−1)(L−2)/2` (with the defaults 50 and 100: `50·(L−1)²`).
public struct LevelCurve: Sendable, Equatable {
    /// XP from level 1 to level 2.
    public var base: Int64
    /// How much more each further level costs than the one before.
    public var step: Int64

    /// The default curve of the leveling pack: 50, 150, 250, … XP per level.
    public static let `default` = LevelCurve(base: 50, step: 100)

    /// Creates a curve; `base` must be ≥ 1 and `step` ≥ 0 (the config loader checks).
    public init(base: Int64, step: Int64) {
        self.base = max(1, base)
        self.step = max(0, step)
    }

    /// Total XP needed to reach `level` (1-based).
    public func xpToReach(level: Int) -> Int64 {
        guard level > 1 else { return 0 }
        let n = Int64(level - 1)
        let (square, overflow) = n.multipliedReportingOverflow(by: n - 1)
        if overflow { return .max }
        let (stepPart, o2) = step.multipliedReportingOverflow(by: square / 2)
        let (basePart, o3) = base.multipliedReportingOverflow(by: n)
        let (sum, o4) = stepPart.addingReportingOverflow(basePart)
        return o2 || o3 || o4 ? .max : sum
    }

    /// The highest level this curve reports (levels are stored in 32 bits).
    public static let maxLevel = Int(Int32.max) - 1

    /// The level an account with `xp` XP is at: closed form, corrected against the exact
    /// integer thresholds, in a bounded number of steps for any `xp` (a moderator's huge
    /// adjustment included); saturates at ``maxLevel``.
    public func level(forXP xp: Int64) -> Int {
        guard xp > 0 else { return 1 }
        let top = Int64(Self.maxLevel - 1)
        // n = L − 1: the largest n with xpToReach(n + 1) <= xp.
        var estimate: Int64
        if step == 0 {
            estimate = xp / base
        } else {
            // Solve step/2·n² + (base − step/2)·n − xp = 0 for n.
            let a = Double(step) / 2, b = Double(base) - Double(step) / 2
            let root = (-b + (b * b + 4 * a * Double(xp)).squareRoot()) / (2 * a)
            estimate = root.isFinite ? Int64(max(0, min(root, Double(top)))) : 0
        }
        estimate = min(max(0, estimate), top)
        func reaches(_ n: Int64) -> Bool { xpToReach(level: Int(n) + 1) <= xp }
        // The estimate is off by at most a step or two (this runs per XP change: no array,
        // no allocation); search only when it is further off.
        for offset: Int64 in -2...2 {
            let n = estimate + offset
            if n >= 0 && n <= top && reaches(n) && (n == top || !reaches(n + 1)) { return Int(n) + 1 }
        }
        var low: Int64 = 0, high = top  // reaches(low) holds (level 1 is at 0 XP)
        while low < high {
            let middle = low + (high - low + 1) / 2
            if reaches(middle) { low = middle } else { high = middle - 1 }
        }
        return Int(low) + 1
    }
}

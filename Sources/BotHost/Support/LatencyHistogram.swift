/// Latencies in fixed memory: log-linear buckets (64 per power of two, so any value is
/// kept to within 1/64 ≈ 1.6 %), O(1) to record and 33 KB however long the host runs.
/// Replaces arrays of samples, which grew without bound and were copied through a lock.
public struct LatencyHistogram: Sendable {
    private static let subBits = 6
    private static let sub = 1 << subBits
    private var counts = [UInt64](repeating: 0, count: (64 - subBits + 1) * (1 << subBits))
    public private(set) var count: UInt64 = 0
    public private(set) var max: Int64 = 0

    public init() {}

    /// Records a value (negative values count as 0).
    public mutating func record(_ value: Int64) {
        let value = Swift.max(0, value)
        counts[Self.index(UInt64(value))] &+= 1
        count &+= 1
        if value > max { max = value }
    }

    /// The value at `quantile` (0…1): the upper edge of its bucket, never above the maximum.
    public func value(atQuantile quantile: Double) -> Int64 {
        guard count > 0 else { return 0 }
        let rank = UInt64((Swift.min(1, Swift.max(0, quantile)) * Double(count)).rounded(.up))
        var seen: UInt64 = 0
        for (index, bucketCount) in counts.enumerated() where bucketCount > 0 {
            seen += bucketCount
            if seen >= Swift.max(1, rank) { return Swift.min(max, Self.upperEdge(index)) }
        }
        return max
    }

    /// Adds another histogram's counts.
    public mutating func merge(_ other: LatencyHistogram) {
        for index in counts.indices { counts[index] &+= other.counts[index] }
        count &+= other.count
        max = Swift.max(max, other.max)
    }

    static func index(_ value: UInt64) -> Int {
        if value < UInt64(sub) { return Int(value) }
        let magnitude = 63 - value.leadingZeroBitCount  // ≥ subBits
        let shift = magnitude - subBits
        let mantissa = Int(value >> UInt64(shift)) - sub  // 0..<sub
        return (shift + 1) * sub + mantissa
    }

    static func upperEdge(_ index: Int) -> Int64 {
        if index < sub { return Int64(index) }
        let shift = index / sub - 1
        let mantissa = index % sub + sub
        let edge = (UInt64(mantissa + 1) << UInt64(shift)) - 1
        return edge > UInt64(Int64.max) ? .max : Int64(edge)
    }
}

import Synchronization

/// A latency histogram shared between the thread that records and the one that reports.
public final class LatencyRecorder: Sendable {
    private let histogram = Mutex(LatencyHistogram())

    public init() {}

    public func record(_ value: Int64) { histogram.withLock { $0.record(value) } }

    /// A copy of the counts so far.
    public var snapshot: LatencyHistogram { histogram.withLock { $0 } }
}

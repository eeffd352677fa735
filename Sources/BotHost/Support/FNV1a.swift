/// 64-bit FNV-1a: the one content hash of the project (partition shard keys, commit
/// operation keys, rule-pack version tags, once-per-subject keys). Stable across
/// versions and machines, which is all these need; it is not a defence against
/// chosen collisions, so nothing keyed by it lets one account touch another's state.
public enum FNV1a {
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    public static let prime: UInt64 = 0x0000_0100_0000_01B3

    /// The hash of `bytes`, continuing from `seed` (the offset basis by default).
    @inline(__always)
    public static func hash<Bytes: Sequence<UInt8>>(_ bytes: Bytes, seed: UInt64 = offsetBasis) -> UInt64 {
        var h = seed
        for byte in bytes { h = (h ^ UInt64(byte)) &* prime }
        return h
    }
}

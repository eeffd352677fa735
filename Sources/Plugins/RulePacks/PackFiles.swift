import BotHost
import Rules

/// A checked pack with the version recorded in the ledger and where it came from.
public struct LoadedPack: Sendable {
    public var pack: RulePack
    public var versionTag: String
    public var path: String
    public init(pack: RulePack, versionTag: String, path: String) {
        self.pack = pack
        self.versionTag = versionTag
        self.path = path
    }
}

/// Loads and checks a rule pack file; the version tag recorded in the ledger is the
/// pack's version and a hash of its content.
public enum RulePackFile {
    public static func load(_ path: String) throws -> LoadedPack {
        let text = try readTextFile(path)
        let pack = try RulePackChecker.check(text: text, file: path)
        return LoadedPack(pack: pack, versionTag: versionTag(pack, text: text), path: path)
    }

    /// `VERSION+FNV64(text)`: two different texts never share a tag by accident.
    public static func versionTag(_ pack: RulePack, text: String) -> String {
        let hex = String(FNV1a.hash(text.utf8), radix: 16)
        return "\(pack.version)+\(String(repeating: "0", count: 16 - hex.count) + hex)"
    }
}

/// The rule packs a host runs: one live pack (the built-in leveling pack unless a live
/// one is given) and at most one shadow pack (`mode: shadow`).
public struct PackSelection: Sendable {
    public var live: LoadedPack
    public var shadow: LoadedPack?
    /// Whether the live pack is the built-in one (its milestones come from the config).
    public var liveIsDefault: Bool

    public init(live: LoadedPack, shadow: LoadedPack? = nil, liveIsDefault: Bool) {
        self.live = live
        self.shadow = shadow
        self.liveIsDefault = liveIsDefault
    }

    /// Errors for a selection that cannot run.
    public struct Refused: Error, CustomStringConvertible {
        public var description: String
    }

    /// Loads and checks `paths`; the built-in pack (with the config's amounts) is live
    /// when none of them is.
    public static func load(_ paths: [String], amounts: LevelingConfiguration.Amounts) throws -> PackSelection {
        var live: [LoadedPack] = []
        var shadow: [LoadedPack] = []
        for path in paths {
            let loaded = try RulePackFile.load(path)
            if loaded.pack.mode == .shadow { shadow.append(loaded) } else { live.append(loaded) }
        }
        guard live.count <= 1 else { throw Refused(description: "more than one live pack (\(live.map(\.path).joined(separator: ", "))); run one, or set mode: shadow on the others") }
        guard shadow.count <= 1 else { throw Refused(description: "more than one shadow pack (\(shadow.map(\.path).joined(separator: ", "))); compare one at a time") }
        return PackSelection(live: live.first ?? DefaultPack.load(amounts: amounts), shadow: shadow.first, liveIsDefault: live.isEmpty)
    }
}

/// Reads a whole text file without Foundation.
public func readTextFile(_ path: String) throws -> String {
    String(decoding: try readFileBytes(path), as: UTF8.self)
}

/// Reads a whole file's bytes without Foundation (rule packs, WebAssembly modules).
public func readFileBytes(_ path: String) throws -> [UInt8] {
    let reader = try FileByteSource(path: path)
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = try chunk.withUnsafeMutableBytes { try reader.read(into: $0) }
        if n == 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return bytes
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import BotHost
import Rules

/// Reloads the rule packs a running host was started with, when their files change or
/// on request (SIGHUP). A new version is checked in full first: only a selection that
/// passes replaces the running one, so a broken edit is reported and the previous
/// version keeps running. Editors that write a file in several steps are fine: each
/// change is looked at again, and the last one wins.
public final class PackReloader {
    /// What a reload did.
    public enum Outcome: Sendable, Equatable {
        /// Nothing changed in the packs' content.
        case unchanged
        /// The new selection replaced the old one; a line for the log.
        case reloaded(String)
        /// The new files were refused (`file:line:col: error: …`); the old ones keep running.
        case refused(String)
    }

    /// The pack files given at start.
    public let paths: [String]
    private let amounts: LevelingConfiguration.Amounts
    /// The selection the host runs.
    public private(set) var current: PackSelection
    private var stamps: [String: [Int64]] = [:]

    public init(paths: [String], current: PackSelection, amounts: LevelingConfiguration.Amounts) {
        self.paths = paths
        self.current = current
        self.amounts = amounts
        for path in paths { stamps[path] = Self.stamp(path) }
    }

    /// Whether a file changed (content time, size or inode) since the last look.
    public func filesChanged() -> Bool {
        var changed = false
        for path in paths {
            let stamp = Self.stamp(path)
            if stamp != stamps[path] { changed = true }
            stamps[path] = stamp
        }
        return changed
    }

    /// Loads and checks the files again. On success the new selection is returned (to
    /// hand to ``apply(_:replacing:to:configuration:)``) and becomes ``current``.
    public func reload() -> (Outcome, PackSelection?) {
        let next: PackSelection
        do {
            next = try PackSelection.load(paths, amounts: amounts)
        } catch {
            return (.refused("\(error)"), nil)
        }
        guard (next.shadow == nil) == (current.shadow == nil), next.liveIsDefault == current.liveIsDefault else {
            return (.refused("a pack's mode changed (live or shadow); restart the host to change which packs run live"), nil)
        }
        guard next.live.versionTag != current.live.versionTag || next.live.pack.id != current.live.pack.id
                || next.shadow?.versionTag != current.shadow?.versionTag else {
            return (.unchanged, nil)
        }
        var changes: [String] = []
        if next.live.versionTag != current.live.versionTag {
            changes.append("live pack \(next.live.pack.id) \(current.live.versionTag) → \(next.live.versionTag)")
        }
        if let shadow = next.shadow, shadow.versionTag != current.shadow?.versionTag {
            changes.append("shadow pack \(shadow.pack.id) \(current.shadow?.versionTag ?? "-") → \(shadow.versionTag)")
        }
        let previous = current
        current = next
        return (.reloaded(changes.joined(separator: "; ")), previous)
    }


    /// Modification time (ns), size and inode; empty when the file cannot be read.
    public static func stamp(_ path: String) -> [Int64] {
        var info = stat()
        guard stat(path, &info) == 0 else { return [] }
        #if canImport(Glibc)
        let nanoseconds = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        #else
        let nanoseconds = Int64(info.st_mtimespec.tv_sec) * 1_000_000_000 + Int64(info.st_mtimespec.tv_nsec)
        #endif
        return [nanoseconds, Int64(info.st_size), Int64(info.st_ino)]
    }
}

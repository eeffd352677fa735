import BotHost
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An advisory lock (`flock`) on `<db>.host-lock` held by the process that owns a
/// database's state (`replay`, `run`): moderator commands go through the command queue
/// while it is held, and are applied directly by the CLI when it is free.
public final class HostLock {
    private let fd: Int32

    /// Takes the lock without waiting; `nil` when another process holds it.
    public init?(databasePath: String) {
        let descriptor = open(databasePath + ".host-lock", O_RDWR | O_CREAT, 0o644)
        guard descriptor >= 0 else { return nil }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            return nil
        }
        fd = descriptor
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

import Synchronization

/// A value behind a lock, shareable between tasks: for the small pieces of state a
/// connection's tasks, a service and its caller share (not for hot paths).
public final class LockedBox<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>

    public init(_ value: Value) { storage = Mutex(value) }

    /// The current value; setting replaces it.
    public var value: Value {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
}

/// A bot behaviour hosted by BotHost: it reads events and turns them into effects
/// (keyed XP grants, consent changes) through the ``PluginContext``.
///
/// The host calls ``handle(_:in:)`` for every commit event of a collection the plugin
/// asked for, after it has dropped duplicates (a `rev` older than the account's last one,
/// or an operation already applied at that rev) and applied identity and account events itself. Everything a plugin does goes
/// through the context, so it lands in the same transaction as the cursor: a plugin keeps
/// no state of its own and never does I/O.
///
/// ```swift
/// struct LikeCounter: Plugin {
///     let id = "likes"
///     let collections = ["app.bsky.feed.like"]
///     func handle(_ event: Event, in context: PluginContext) {
///         if event.commit?.operation == .create { context.grant(amount: 1, rule: rule) }
///     }
/// }
/// ```
public protocol Plugin: AnyObject {
    /// A stable identifier, recorded with every ledger entry the plugin causes.
    var id: String { get }
    /// Collection NSIDs (or prefixes ending in `.*`, or `*` for every collection) whose
    /// commit events the plugin reads. The union over the plugins is the live
    /// subscription's `wantedCollections`; commits of other collections are never seen,
    /// neither live nor in a replay.
    var collections: [String] { get }
    /// Called once before the first event, to register the plugin's rules.
    func register(in context: PluginContext)
    /// Applies one commit event. Called on the host's processing thread.
    func handle(_ event: Event, in context: PluginContext)
}

/// Names one rule of one plugin; every ledger entry carries one, so `bothost user`
/// can say which rule of which version produced a grant.
public struct RuleRef: Hashable, Sendable {
    /// Index in the host's rule table (stored in the ledger).
    public let index: UInt16

    /// A placeholder until ``PluginContext/registerRule(plugin:rule:version:)`` returns the real one.
    public static let unregistered = RuleRef(index: 0)
}

/// Names one counter (e.g. `app.bsky.feed.like:create`); values are kept per account
/// and time bucket.
public struct CounterRef: Hashable, Sendable {
    /// Index in the host's counter table.
    public let index: UInt16
}

/// What an account owner allowed the bot to do.
public enum Consent: UInt8, Sendable, CaseIterable {
    /// Never asked: milestones are recorded, nothing is posted.
    case none
    /// Announce with a mention.
    case optedIn
    /// Announce without pinging (plain handle text).
    case noPing
    /// Never post about this account again.
    case optedOut

    /// The name stored in the database and shown by the CLI.
    public var name: String {
        switch self {
        case .none: "none"
        case .optedIn: "opted_in"
        case .noPing: "no_ping"
        case .optedOut: "opted_out"
        }
    }

    /// Parses a stored name.
    public init?(name: String) {
        guard let match = Consent.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    /// Whether announcements may be posted.
    public var allowsAnnouncements: Bool { self == .optedIn || self == .noPing }
}

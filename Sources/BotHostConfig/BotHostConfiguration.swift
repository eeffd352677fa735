import BotHost
import BotHostLabels
import BotHostWasm
import Plugins
import Rules
import Yams

/// The whole config file of a bot: which account it is, the leveling numbers,
/// consent options and store tuning.
///
/// ```yaml
/// bot:
///   did: did:plc:abc123
///   handle: levels.example.com
/// leveling:
///   xp: {post: 50, post_with_media: 60, post_with_described_media: 70, like: 10, repost_of_unseen: 50, self_interaction: 0}
///   curve: {base: 50, step: 100}
///   milestones: [5, 10, 25, 50, 100]
///   announcement: "{handle} reached level {level}!"
/// consent:
///   follow_opts_in: false
/// store:
///   batch_size: 100000
///   retention_days: 30
/// ```
/// Unknown keys and wrong types are refused with `file:line:col`.
public struct BotHostConfiguration: Sendable, Equatable {
    public var bot = BotAccountConfiguration()
    public var leveling = LevelingConfiguration()
    public var consent = ConsentConfiguration()
    public var store = StoreConfiguration()
    public var jetstream = JetstreamConfiguration()
    public var analytics = AnalyticsConfiguration()
    public var outbox = OutboxConfiguration()
    public var rankings = RankingOptions()
    public var rankAnnouncement = "{handle} entered the top {n} of the {window}!"
    public var rankFirstAnnouncement = "{handle} is the new #1 of the {window}!"
    /// Seasons (`seasons:`); nil: none.
    public var seasons: SeasonCalendar?
    /// The labeler (`labeler:`); nil: BotHost issues no labels.
    public var labeler: LabelerConfiguration?
    /// WebAssembly plugins (`plugins.wasm`), checked and initialized once at load.
    public var wasmPlugins: [WasmPluginSpec] = []

    public init() {}

    /// Reads and checks a config file.
    /// - Throws: `Diagnostic` for syntax errors, unknown keys, wrong types and bad values;
    ///   `CaptureError` when the file cannot be read.
    public static func load(path: String) throws -> BotHostConfiguration {
        let text = try readTextFile(path)
        return try parse(text, file: path)
    }

    /// Parses config text; `file` names it in diagnostics.
    public static func parse(_ text: String, file: String) throws(Diagnostic) -> BotHostConfiguration {
        let doc = try YAMLDocument(text: text, file: file)
        var config = BotHostConfiguration()
        guard let root = doc.root else { return config }
        if case let .scalar(scalar) = root, scalar.string.isEmpty { return config }
        let top = try doc.mapping(root, "the config file")
        try doc.rejectUnknownKeys(in: top, allowed: ["bot", "leveling", "consent", "store", "jetstream", "analytics", "outbox", "rankings", "plugins", "seasons", "labeler"], section: "the config file")
        if let node = top["seasons"] { config.seasons = try parseSeasons(node, doc) }
        if let node = top["labeler"] { config.labeler = try LabelerSpec.parse(node, doc, file: file) }
        if let node = top["plugins"] { config.wasmPlugins = try WasmPluginSpec.parse(node, doc, file: file) }
        if let node = top["rankings"] {
            let map = try doc.mapping(node, "rankings")
            try doc.rejectUnknownKeys(in: map, allowed: ["enabled", "window", "thresholds", "margin", "leave_after_minutes",
                                                         "check_every_seconds", "announce", "announcement", "announcement_first"],
                                      section: "rankings")
            if let value = map["enabled"] { config.rankings.enabled = try doc.bool(value, "rankings.enabled") }
            if let value = map["window"] {
                let name = try doc.string(value, "rankings.window")
                guard name == "hour" || name == "day" else { throw doc.error("rankings.window must be hour or day, got '\(name)'", at: value) }
                config.rankings.window = name
            }
            if let list = map["thresholds"] {
                config.rankings.thresholds = []
                for item in try doc.sequence(list, "rankings.thresholds") {
                    config.rankings.thresholds.append(Int(try doc.int(item, "a ranking threshold", in: 1...1_000)))
                }
                config.rankings.thresholds = Array(Set(config.rankings.thresholds)).sorted()
            }
            if let value = map["margin"] { config.rankings.margin = Int(try doc.int(value, "rankings.margin", in: 0...1_000)) }
            if let value = map["leave_after_minutes"] {
                config.rankings.leaveAfterUS = try doc.int(value, "rankings.leave_after_minutes", in: 0...100_000) * 60_000_000
            }
            if let value = map["check_every_seconds"] {
                config.rankings.checkEveryUS = try doc.int(value, "rankings.check_every_seconds", in: 1...86_400) * 1_000_000
            }
            if let value = map["announce"] { config.rankings.announce = try doc.bool(value, "rankings.announce") }
            for (key, path) in [("announcement", \BotHostConfiguration.rankAnnouncement), ("announcement_first", \BotHostConfiguration.rankFirstAnnouncement)] {
                guard let value = map[Node(key)] else { continue }
                let text = try doc.string(value, "rankings.\(key)")
                for placeholder in placeholders(in: text) where !["handle", "n", "rank", "window", "did"].contains(placeholder) {
                    throw doc.error("unknown placeholder {\(placeholder)} in rankings.\(key); expected {handle}, {n}, {rank}, {window} or {did}", at: value)
                }
                config[keyPath: path] = text
            }
        }
        if let node = top["analytics"] {
            let analytics = try doc.mapping(node, "analytics")
            try doc.rejectUnknownKeys(in: analytics, allowed: ["enabled", "hourly", "retention_days", "hourly_retention_days"], section: "analytics")
            if let value = analytics["enabled"] { config.analytics.enabled = try doc.bool(value, "analytics.enabled") }
            if let value = analytics["hourly"] { config.analytics.hourly = try doc.bool(value, "analytics.hourly") }
            if let value = analytics["retention_days"] {
                config.analytics.retentionDays = Int(try doc.int(value, "analytics.retention_days", in: 1...36_500))
            }
            if let value = analytics["hourly_retention_days"] {
                config.analytics.hourlyRetentionDays = Int(try doc.int(value, "analytics.hourly_retention_days", in: 1...36_500))
            }
        }
        if let node = top["jetstream"] {
            let js = try doc.mapping(node, "jetstream")
            try doc.rejectUnknownKeys(in: js, allowed: ["hosts", "wanted_dids", "compress", "rewind_seconds", "batch_size", "batch_delay_ms"], section: "jetstream")
            if let hosts = js["hosts"] {
                config.jetstream.hosts = []
                for item in try doc.sequence(hosts, "jetstream.hosts") {
                    let url = try doc.string(item, "a Jetstream host")
                    guard url.hasPrefix("wss://") || url.hasPrefix("ws://") else {
                        throw doc.error("a Jetstream host must be a ws:// or wss:// URL, got '\(url)'", at: item)
                    }
                    config.jetstream.hosts.append(url)
                }
            }
            if let dids = js["wanted_dids"] {
                config.jetstream.wantedDids = try doc.sequence(dids, "jetstream.wanted_dids").map { node throws(Diagnostic) in
                    let did = try doc.string(node, "a DID")
                    guard did.hasPrefix("did:") else { throw doc.error("expected a DID, got '\(did)'", at: node) }
                    return did
                }
            }
            if let value = js["compress"] { config.jetstream.compress = try doc.bool(value, "jetstream.compress") }
            if let value = js["rewind_seconds"] { config.jetstream.rewindSeconds = Double(try doc.int(value, "jetstream.rewind_seconds", in: 0...86_400)) }
            if let value = js["batch_size"] { config.jetstream.batchSize = Int(try doc.int(value, "jetstream.batch_size", in: 1...1_000_000)) }
            if let value = js["batch_delay_ms"] { config.jetstream.batchDelayMS = Int(try doc.int(value, "jetstream.batch_delay_ms", in: 1...60_000)) }
        }
        if let node = top["bot"] {
            let bot = try doc.mapping(node, "bot")
            try doc.rejectUnknownKeys(in: bot, allowed: ["did", "handle", "pds", "identifier", "app_password_file",
                                                         "declare_automated", "dry_run"], section: "bot")
            if let node = bot["pds"] {
                let url = try doc.string(node, "bot.pds")
                guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
                    throw doc.error("bot.pds must be an https:// URL (http:// only on loopback), got '\(url)'", at: node)
                }
                config.bot.pds = url
            }
            if let node = bot["identifier"] { config.bot.identifier = try doc.string(node, "bot.identifier") }
            if let node = bot["app_password_file"] { config.bot.appPasswordFile = try doc.string(node, "bot.app_password_file") }
            if let node = bot["declare_automated"] { config.bot.declareAutomated = try doc.bool(node, "bot.declare_automated") }
            if let node = bot["dry_run"] { config.bot.dryRun = try doc.bool(node, "bot.dry_run") }
            if let did = bot["did"] {
                let value = try doc.string(did, "bot.did")
                guard value.hasPrefix("did:"), value.split(separator: ":").count >= 3 else {
                    throw doc.error("bot.did must be a DID such as did:plc:abc123, got '\(value)'", at: did)
                }
                config.bot.did = value
            }
            if let handle = bot["handle"] { config.bot.handle = try doc.string(handle, "bot.handle") }
        }
        if let node = top["leveling"] {
            config.leveling = try parseLeveling(node, doc)
        }
        if let node = top["consent"] {
            let consent = try doc.mapping(node, "consent")
            try doc.rejectUnknownKeys(in: consent, allowed: ["follow_opts_in", "confirm_commands", "confirm_interval_minutes",
                                                             "confirmations_per_hour"], section: "consent")
            if let value = consent["follow_opts_in"] { config.consent.followOptsIn = try doc.bool(value, "consent.follow_opts_in") }
            if let value = consent["confirm_commands"] { config.consent.confirmCommands = try doc.bool(value, "consent.confirm_commands") }
            if let value = consent["confirm_interval_minutes"] {
                config.consent.confirmIntervalMinutes = Int(try doc.int(value, "consent.confirm_interval_minutes", in: 0...100_000))
            }
            if let value = consent["confirmations_per_hour"] {
                config.consent.confirmationsPerHour = Int(try doc.int(value, "consent.confirmations_per_hour", in: 0...10_000))
            }
        }
        if let node = top["outbox"] {
            let outbox = try doc.mapping(node, "outbox")
            try doc.rejectUnknownKeys(in: outbox, allowed: ["mode", "max_age_hours", "max_attempts", "coalesce", "write_budget"],
                                      section: "outbox")
            if let value = outbox["mode"] {
                let name = try doc.string(value, "outbox.mode")
                guard let mode = OutboxConfiguration.Mode(rawValue: name) else {
                    throw doc.error("outbox.mode must be reply, post or dm, got '\(name)'", at: value)
                }
                config.outbox.mode = mode
            }
            if let value = outbox["max_age_hours"] {
                config.outbox.maxAgeSeconds = try doc.int(value, "outbox.max_age_hours", in: 0...100_000) * 3_600
            }
            if let value = outbox["max_attempts"] { config.outbox.maxAttempts = Int(try doc.int(value, "outbox.max_attempts", in: 1...1_000)) }
            if let value = outbox["coalesce"] { config.outbox.coalesce = try doc.bool(value, "outbox.coalesce") }
            if let node = outbox["write_budget"] {
                let budget = try doc.mapping(node, "outbox.write_budget")
                try doc.rejectUnknownKeys(in: budget, allowed: ["hourly_points", "daily_points", "headroom_percent"], section: "outbox.write_budget")
                if let value = budget["hourly_points"] { config.outbox.hourlyPoints = Int(try doc.int(value, "outbox.write_budget.hourly_points", in: 3...1_000_000)) }
                if let value = budget["daily_points"] { config.outbox.dailyPoints = Int(try doc.int(value, "outbox.write_budget.daily_points", in: 3...10_000_000)) }
                if let value = budget["headroom_percent"] { config.outbox.headroomPercent = Int(try doc.int(value, "outbox.write_budget.headroom_percent", in: 0...90)) }
            }
        }
        if let node = top["store"] {
            let store = try doc.mapping(node, "store")
            try doc.rejectUnknownKeys(in: store, allowed: ["batch_size", "retention_days", "hot_grants_minutes", "url"], section: "store")
            if let value = store["url"] { config.store.url = try doc.string(value, "store.url") }
            if let value = store["hot_grants_minutes"] {
                config.store.hotGrantsMinutes = Int(try doc.int(value, "store.hot_grants_minutes", in: 0...5_256_000))
            }
            if let value = store["retention_days"] {
                config.store.retentionDays = Int(try doc.int(value, "store.retention_days", in: 0...36_500))
            }
            if let value = store["batch_size"] {
                config.store.batchSize = Int(try doc.int(value, "store.batch_size", in: 1...1_000_000))
            }
        }
        return config
    }

    /// `seasons: {period: monthly|quarterly|explicit, list: [{name, start, end}], archive_top: N, grace_minutes: M}`.
    private static func parseSeasons(_ node: Node, _ doc: YAMLDocument) throws(Diagnostic) -> SeasonCalendar {
        let map = try doc.mapping(node, "seasons")
        try doc.rejectUnknownKeys(in: map, allowed: ["period", "list", "archive_top", "grace_minutes", "announce", "announcement"], section: "seasons")
        guard let periodNode = map["period"] else { throw doc.error("seasons needs period: monthly, quarterly or explicit", at: node) }
        let name = try doc.string(periodNode, "seasons.period")
        var period: SeasonCalendar.Period
        switch name {
        case "monthly": period = .monthly
        case "quarterly": period = .quarterly
        case "explicit":
            guard let list = map["list"] else { throw doc.error("an explicit season calendar needs list: [{name, start, end}]", at: node) }
            var seasons: [Season] = []
            for item in try doc.sequence(list, "seasons.list") {
                let entry = try doc.mapping(item, "a season")
                try doc.rejectUnknownKeys(in: entry, allowed: ["name", "start", "end"], section: "a season")
                guard let n = entry["name"], let a = entry["start"], let b = entry["end"] else {
                    throw doc.error("a season needs name, start and end (YYYY-MM-DD, UTC; end is exclusive)", at: item)
                }
                let seasonName = try doc.string(n, "a season's name")
                guard !seasonName.isEmpty, seasonName.utf8.count <= 64, seasonName.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                    throw doc.error("a season's name must be 1-64 letters, digits, - or _, got '\(seasonName)'", at: n)
                }
                guard let start = CivilDate.parse(try doc.string(a, "start")) else { throw doc.error("start must be a date YYYY-MM-DD", at: a) }
                guard let end = CivilDate.parse(try doc.string(b, "end")) else { throw doc.error("end must be a date YYYY-MM-DD", at: b) }
                guard start < end else { throw doc.error("a season must end after it starts", at: b) }
                if let other = seasons.first(where: { $0.startUS < end && start < $0.endUS }) {
                    throw doc.error("season \(seasonName) overlaps season \(other.name)", at: item)
                }
                if seasons.contains(where: { $0.name == seasonName }) { throw doc.error("two seasons are named \(seasonName)", at: n) }
                seasons.append(Season(name: seasonName, startUS: start, endUS: end))
            }
            period = .explicit(seasons.sorted { $0.startUS < $1.startUS })
        default:
            throw doc.error("seasons.period must be monthly, quarterly or explicit, got '\(name)'", at: periodNode)
        }
        if case .explicit = period {} else if let list = map["list"] {
            throw doc.error("list: is for period: explicit", at: list)
        }
        var calendar = SeasonCalendar(period: period)
        if let value = map["archive_top"] { calendar.archiveTop = Int(try doc.int(value, "seasons.archive_top", in: 1...1_000)) }
        if let value = map["grace_minutes"] { calendar.graceUS = try doc.int(value, "seasons.grace_minutes", in: 0...10_080) * 60_000_000 }
        var template = "{handle} finished season {season} at #{rank} with {xp} XP!"
        if let value = map["announcement"] {
            template = try doc.string(value, "seasons.announcement")
            for placeholder in placeholders(in: template) where !["handle", "season", "rank", "xp", "did"].contains(placeholder) {
                throw doc.error("unknown placeholder {\(placeholder)} in seasons.announcement; expected {handle}, {season}, {rank}, {xp} or {did}", at: value)
            }
        }
        if let value = map["announce"], try doc.bool(value, "seasons.announce") { calendar.announcement = template }
        return calendar
    }

    private static func parseLeveling(_ node: Node, _ doc: YAMLDocument) throws(Diagnostic) -> LevelingConfiguration {
        var leveling = LevelingConfiguration()
        let map = try doc.mapping(node, "leveling")
        try doc.rejectUnknownKeys(in: map, allowed: ["xp", "curve", "milestones", "announcement", "announcement_many"], section: "leveling")
        if let xpNode = map["xp"] {
            let xp = try doc.mapping(xpNode, "leveling.xp")
            let fields: [(String, WritableKeyPath<LevelingConfiguration.Amounts, Int>)] = [
                ("post", \.post), ("post_with_media", \.postWithMedia),
                ("post_with_described_media", \.postWithDescribedMedia), ("like", \.like),
                ("repost_of_unseen", \.repostOfUnseen), ("self_interaction", \.selfInteraction),
            ]
            try doc.rejectUnknownKeys(in: xp, allowed: fields.map(\.0), section: "leveling.xp")
            for (key, path) in fields {
                if let value = xp[Node(key)] {
                    leveling.amounts[keyPath: path] = Int(try doc.int(value, "leveling.xp.\(key)", in: 0...1_000_000))
                }
            }
        }
        var curve = leveling.progression.curve
        if let curveNode = map["curve"] {
            let c = try doc.mapping(curveNode, "leveling.curve")
            try doc.rejectUnknownKeys(in: c, allowed: ["base", "step"], section: "leveling.curve")
            if let base = c["base"] { curve.base = try doc.int(base, "leveling.curve.base", in: 1...1_000_000_000) }
            if let step = c["step"] { curve.step = try doc.int(step, "leveling.curve.step", in: 0...1_000_000_000) }
        }
        var milestones = leveling.progression.milestones
        if let list = map["milestones"] {
            milestones = []
            for item in try doc.sequence(list, "leveling.milestones") {
                milestones.append(Int(try doc.int(item, "a milestone level", in: 2...1_000_000)))
            }
        }
        var announcement = leveling.progression.announcement
        if let text = map["announcement"] {
            announcement = try doc.string(text, "leveling.announcement")
            for placeholder in placeholders(in: announcement) where !["handle", "level", "xp", "did"].contains(placeholder) {
                throw doc.error("unknown placeholder {\(placeholder)} in leveling.announcement; expected {handle}, {level}, {xp} or {did}", at: text)
            }
        }
        var many = leveling.progression.announcementMany
        if let text = map["announcement_many"] {
            many = try doc.string(text, "leveling.announcement_many")
            for placeholder in placeholders(in: many) where !["handle", "levels", "level", "xp", "did"].contains(placeholder) {
                throw doc.error("unknown placeholder {\(placeholder)} in leveling.announcement_many; expected {handle}, {levels}, {level}, {xp} or {did}", at: text)
            }
        }
        leveling.progression = Progression(curve: curve, milestones: milestones, announcement: announcement, announcementMany: many)
        return leveling
    }

    private static func placeholders(in text: String) -> [String] {
        var result: [String] = []
        var current: String?
        for character in text {
            if character == "{" { current = "" } else if character == "}" {
                if let name = current { result.append(name) }
                current = nil
            } else if current != nil { current!.append(character) }
        }
        return result
    }

    /// The collections the plugins read: the live subscription's `wantedCollections`
    /// (empty, meaning all, when a plugin reads `*`).
    public func wantedCollections(_ plugins: [any Plugin]) -> [String] {
        if plugins.contains(where: { $0.collections.contains("*") }) { return [] }
        var seen: [String] = []
        for plugin in plugins { for collection in plugin.collections where !seen.contains(collection) { seen.append(collection) } }
        return seen
    }

    /// A host context with this configuration's progression and retention.
    public func makeContext() -> PluginContext {
        let context = PluginContext(progression: leveling.progression, retentionDays: store.retentionDays, rankings: rankings)
        context.seasons = seasons
        context.rankAnnouncement = rankAnnouncement
        context.rankFirstAnnouncement = rankFirstAnnouncement
        context.retention.analyticsDays = analytics.retentionDays
        context.retention.hourlyDays = analytics.hourlyRetentionDays
        context.residency.hotGrantHorizonUS = Int64(store.hotGrantsMinutes) * 60 * 1_000_000
        return context
    }

    /// The plugins this configuration runs, in order: consent first, so a post that
    /// opts in and crosses a milestone is announced; the live pack is the second.
    public func makePlugins(packs: PackSelection? = nil) -> [any Plugin] {
        let packs = packs ?? PackSelection(live: DefaultPack.load(amounts: leveling.amounts), shadow: nil, liveIsDefault: true)
        var plugins: [any Plugin] = [ConsentPlugin(bot: bot, options: consent),
                                     RulePackPlugin(pack: packs.live.pack, versionTag: packs.live.versionTag, shadow: false)]
        if let shadow = packs.shadow {
            plugins.append(RulePackPlugin(pack: shadow.pack, versionTag: shadow.versionTag, shadow: true))
        }
        if analytics.enabled { plugins.append(ActivityPlugin(hourly: analytics.hourly)) }
        plugins += wasmPlugins.compactMap { $0.instantiate() }
        return plugins
    }
}

extension Node.Mapping {
    /// The value of a string key.
    subscript(key: String) -> Node? { self[Node(key)] }
}

extension BotHostConfiguration {
    /// Takes the milestones and templates of the selection's live pack, unless it is
    /// the built-in one (whose numbers are the config's).
    public mutating func adopt(_ packs: PackSelection) {
        if !packs.liveIsDefault { adopt(packs.live.pack) }
    }

    /// Takes the milestones and announcement templates of a rule pack that has them.
    public mutating func adopt(_ pack: RulePack) {
        var progression = leveling.progression
        if !pack.milestones.isEmpty { progression.milestones = pack.milestones }
        if let text = pack.templates["announcement"] { progression.announcement = text }
        if let text = pack.templates["announcement_many"] { progression.announcementMany = text }
        leveling.progression = progression
        if let text = pack.templates["rankings.announcement"] { rankAnnouncement = text }
        if let text = pack.templates["rankings.announcement_first"] { rankFirstAnnouncement = text }
    }
}


import BotHost

enum SummaryPrinter {
    static func print(_ s: Replayer.Summary, format: OutputFormat, db: String, dryRun: Bool, outbox: [String: Int]? = nil) {
        let rate = s.seconds > 0 ? Double(s.events) / s.seconds : 0
        switch format {
        case .json:
            let json = JSONWriter()
            json.object {
                json.field("lines", s.lines)
                json.field("events", s.events)
                json.field("duplicates", s.duplicates)
                json.field("foreign_events", s.foreign)
                json.field("malformed", s.malformed)
                json.key("malformed_by_reason")
                json.object {
                    for (reason, count) in s.malformedByReason.sorted(by: { $0.key < $1.key }) { json.field(reason.rawValue, count) }
                }
                json.field("accounts", s.accounts)
                json.field("new_accounts", s.newAccounts)
                json.field("xp_granted", s.xpGranted)
                json.field("xp_revoked", s.xpRevoked)
                json.field("milestones", s.milestones)
                json.field("announcements_queued", s.announcements)
                json.field("batches", s.batches)
                json.field("seconds", s.seconds)
                json.field("events_per_second", rate)
                json.field("commit_seconds", s.commitSeconds)
                json.field("workers", s.workers)
                json.field("cold_grant_lookups", s.coldGrantLookups)
                json.key("stage_seconds")
                json.object {
                    json.field("decode_workers", s.decodeSeconds)
                    json.field("apply", s.applySeconds)
                    json.field("writer_wait", s.writerWaitSeconds)
                    json.field("commit", s.commitSeconds)
                }
                json.field("peak_rss_mb", Double(ProcessStats.peakResidentBytes()) / 1_048_576)
                json.field("cursor_us", s.cursorUS)
                json.field("dry_run", dryRun)
                if let outbox {
                    json.key("outbox")
                    json.object { for (state, count) in outbox.sorted(by: { $0.key < $1.key }) { json.field(state, count) } }
                }
                let plugins = PluginHealth.shared.snapshot()
                if !plugins.isEmpty {
                    json.key("plugins")
                    json.object { for (plugin, record) in plugins.sorted(by: { $0.key < $1.key }) { json.raw(plugin, record.json) } }
                }
                json.field("db", db)
            }
            Swift.print(json.output)
        case .table:
            var rows: [[String]] = [
                ["lines read", Format.grouped(s.lines)],
                ["events applied", Format.grouped(s.events)],
                ["duplicates ignored", Format.grouped(s.duplicates)],
                ["malformed skipped", Format.grouped(s.malformed)],
            ]
            for (reason, count) in s.malformedByReason.sorted(by: { $0.key < $1.key }) {
                rows.append(["  \(reason.rawValue)", Format.grouped(count)])
            }
            rows += [
                ["accounts", "\(Format.grouped(s.accounts)) (\(Format.grouped(s.newAccounts)) new)"],
                ["XP granted", Format.grouped(s.xpGranted)],
                ["XP revoked", Format.grouped(s.xpRevoked)],
                ["milestones reached", Format.grouped(s.milestones)],
                ["announcements queued", Format.grouped(s.announcements) + (dryRun ? " (dry run: none posted)" : "")],
                ["time", "\(Format.fixed(s.seconds, 2)) s, \(Format.grouped(Int(rate))) events/s, \(s.batches) batches"],
                ["stages", "apply \(Format.fixed(s.applySeconds - s.writerWaitSeconds, 2)) s, waiting for the writer \(Format.fixed(s.writerWaitSeconds, 2)) s, commit \(Format.fixed(s.commitSeconds, 2)) s"
                    + (s.workers > 1 ? ", decode \(Format.fixed(s.decodeSeconds, 2)) s on \(s.workers) workers" : "")],
                ["database", db],
            ]
            if let outbox {
                let states = outbox.sorted(by: { $0.key < $1.key }).map { "\($0.key) \(Format.grouped($0.value))" }
                rows.insert(["outbox", states.isEmpty ? "empty" : states.joined(separator: ", ")], at: rows.count - 2)
            }
            Swift.print(Format.table(["replay", ""], rows))
        }
    }
}

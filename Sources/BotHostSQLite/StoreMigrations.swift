import BotHost
import GRDB

/// The versioned schema. Migrations are append-only: never edit a shipped one.
enum StoreMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-core") { db in
            // Accounts, with DIDs interned to dense integer ids. The columns that change
            // with almost every event (totals, last rev) live in their own narrow table:
            // a batch rewrites the pages of every account it touched, and narrow rows
            // mean a quarter of the pages (docs/performance.md).
            try db.execute(sql: """
                CREATE TABLE accounts(
                    id INTEGER PRIMARY KEY,
                    did TEXT NOT NULL UNIQUE,
                    handle TEXT,
                    handle_time_us INTEGER NOT NULL DEFAULT 0,
                    status TEXT NOT NULL DEFAULT 'active',
                    status_time_us INTEGER NOT NULL DEFAULT 0,
                    consent TEXT NOT NULL DEFAULT 'none',
                    purged_us INTEGER NOT NULL DEFAULT 0   -- when a deleted account's rows were purged
                );
                CREATE TABLE totals(
                    account_id INTEGER PRIMARY KEY,
                    xp INTEGER NOT NULL DEFAULT 0,
                    level INTEGER NOT NULL DEFAULT 1,
                    max_level INTEGER NOT NULL DEFAULT 1,
                    last_rev,                                  -- TID as INTEGER, or TEXT for other revs
                    last_ledger_id INTEGER NOT NULL DEFAULT 0  -- head of the account's ledger chain
                );
                CREATE INDEX accounts_handle ON accounts(handle);
                CREATE TABLE collections(id INTEGER PRIMARY KEY, nsid TEXT NOT NULL UNIQUE);
                CREATE TABLE rules(
                    id INTEGER PRIMARY KEY,
                    plugin TEXT NOT NULL, rule TEXT NOT NULL, version TEXT NOT NULL,
                    UNIQUE(plugin, rule, version)
                );
                -- Live keyed grants: the idempotency state of (did, collection, rkey).
                -- Keyed record key first: record keys are TIDs (time-ordered integers),
                -- so new grants land at the end of the B-tree instead of at random pages.
                CREATE TABLE grants(
                    rkey NOT NULL,       -- TID as INTEGER, or TEXT for other keys
                    account_id INTEGER NOT NULL,
                    collection_id INTEGER NOT NULL,
                    amount INTEGER NOT NULL,
                    tag INTEGER NOT NULL,
                    rule_id INTEGER NOT NULL,
                    PRIMARY KEY(rkey, account_id, collection_id)
                ) WITHOUT ROWID;
                -- Append-only XP ledger: every grant, revocation and re-grade with its
                -- provenance (rule, event key, event time). Instead of a secondary index
                -- on account_id (which doubled the cost of appending), each row links to
                -- the account's previous row: an account's history is a chain of rowid
                -- lookups starting at totals.last_ledger_id.
                CREATE TABLE ledger(
                    id INTEGER PRIMARY KEY,
                    prev_id INTEGER NOT NULL,
                    account_id INTEGER NOT NULL,
                    collection_id INTEGER NOT NULL,
                    rkey NOT NULL,
                    kind INTEGER NOT NULL,   -- 0 grant, 1 revoke, 2 regrade, 3 adjust
                    amount INTEGER NOT NULL,
                    rule_id INTEGER NOT NULL,
                    time_us INTEGER NOT NULL
                );
                CREATE TABLE milestones(
                    account_id INTEGER NOT NULL,
                    level INTEGER NOT NULL,
                    time_us INTEGER NOT NULL,
                    PRIMARY KEY(account_id, level)
                ) WITHOUT ROWID;
                CREATE TABLE outbox(
                    id INTEGER PRIMARY KEY,
                    key TEXT NOT NULL UNIQUE,
                    account_id INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    state TEXT NOT NULL DEFAULT 'pending',  -- pending, sent, failed, cancelled, skipped
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_at_us INTEGER NOT NULL DEFAULT 0,
                    created_us INTEGER NOT NULL,
                    last_error TEXT,
                    uri TEXT,
                    cid TEXT
                );
                CREATE INDEX outbox_pending ON outbox(state, next_at_us);
                CREATE INDEX outbox_account ON outbox(account_id);
                CREATE TABLE cursor(source TEXT PRIMARY KEY, time_us INTEGER NOT NULL, updated_us INTEGER NOT NULL);
                """)
        }
        migrator.registerMigration("v2-counters") { db in
            // Per-account counters by time bucket (activity analytics, rule-pack counters),
            // keyed bucket first so a day's rows stay together at the end of the B-tree.
            try db.execute(sql: """
                CREATE TABLE counter_names(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
                CREATE TABLE counters(
                    bucket INTEGER NOT NULL,      -- start of the bucket, unix seconds
                    account_id INTEGER NOT NULL,
                    counter_id INTEGER NOT NULL,
                    value INTEGER NOT NULL,
                    PRIMARY KEY(bucket, account_id, counter_id)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v3-moderation") { db in
            // Sliding-window rankings sum the ledger by event time; the time is nearly
            // ascending, so this index is appended to rather than written at random.
            try db.execute(sql: """
                CREATE INDEX ledger_time ON ledger(time_us);
                ALTER TABLE accounts ADD COLUMN excluded INTEGER NOT NULL DEFAULT 0;
                CREATE TABLE audit(
                    id INTEGER PRIMARY KEY,
                    time_us INTEGER NOT NULL,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    did TEXT,
                    detail TEXT NOT NULL
                );
                """)
        }
        migrator.registerMigration("v4-commands") { db in
            // Moderator commands (adjust, purge) for the host that owns the database.
            try db.execute(sql: """
                CREATE TABLE commands(
                    id INTEGER PRIMARY KEY,
                    kind TEXT NOT NULL,
                    did TEXT NOT NULL,
                    amount INTEGER NOT NULL DEFAULT 0,
                    reason TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    created_us INTEGER NOT NULL,
                    state TEXT NOT NULL DEFAULT 'pending',
                    applied_us INTEGER,
                    result TEXT
                );
                CREATE INDEX commands_pending ON commands(state, id);
                """)
        }
        migrator.registerMigration("v5-outbox") { db in
            // The dispatcher's state. A message is prepared once (its final record text and
            // its deterministic record key stored) before the first attempt, so every retry
            // sends the same record under the same key: a retry after a crash that followed
            // the server's acceptance is recognised, never posted twice.
            try db.execute(sql: """
                ALTER TABLE outbox ADD COLUMN group_id INTEGER;     -- lead row of a coalesced post
                ALTER TABLE outbox ADD COLUMN rkey TEXT;            -- deterministic TID of the post
                ALTER TABLE outbox ADD COLUMN request TEXT;         -- the prepared record or message
                ALTER TABLE outbox ADD COLUMN sent_us INTEGER;
                ALTER TABLE outbox ADD COLUMN updated_us INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX outbox_group ON outbox(group_id);
                -- Every consent change, with its source (a post, a follow, a block, an
                -- account status) and the event time.
                CREATE TABLE consent_log(
                    id INTEGER PRIMARY KEY,
                    account_id INTEGER NOT NULL,
                    consent TEXT NOT NULL,
                    source TEXT NOT NULL,
                    time_us INTEGER NOT NULL
                );
                CREATE INDEX consent_log_account ON consent_log(account_id, id);
                -- Write-budget points spent, one row per write, so the budget survives
                -- restarts; rows older than a day are pruned.
                CREATE TABLE writes(
                    id INTEGER PRIMARY KEY,
                    time_us INTEGER NOT NULL,
                    points INTEGER NOT NULL,
                    outbox_id INTEGER
                );
                CREATE INDEX writes_time ON writes(time_us);
                -- Small durable facts of the dispatcher: the server's last RateLimit
                -- headers, the bot's DID, whether the profile was labelled.
                CREATE TABLE bot_state(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                """)
        }
        migrator.registerMigration("v6-rankings") { db in
            // Net XP per hour and per day of event time, per account: a ranking window
            // sums whole days and hours from these and reads the ledger only for its two
            // partial hours. Bucket first, so each batch appends at the end of the B-tree.
            // Filled from the existing ledger for databases written before.
            try db.execute(sql: """
                CREATE TABLE xp_hourly(bucket INTEGER NOT NULL, account_id INTEGER NOT NULL, xp INTEGER NOT NULL,
                                       PRIMARY KEY(bucket, account_id)) WITHOUT ROWID;
                CREATE TABLE xp_daily(bucket INTEGER NOT NULL, account_id INTEGER NOT NULL, xp INTEGER NOT NULL,
                                      PRIMARY KEY(bucket, account_id)) WITHOUT ROWID;
                INSERT INTO xp_hourly SELECT (time_us / 3600000000) * 3600, account_id, SUM(amount)
                    FROM ledger WHERE time_us >= 0 GROUP BY 1, 2 HAVING SUM(amount) != 0;
                INSERT INTO xp_daily SELECT (time_us / 86400000000) * 86400, account_id, SUM(amount)
                    FROM ledger WHERE time_us >= 0
                    AND time_us < (SELECT (MAX(time_us) / 86400000000) * 86400000000 FROM ledger)
                    GROUP BY 1, 2 HAVING SUM(amount) != 0;
                -- Days before this one are rolled up in xp_daily; the host rolls up the
                -- following ones as the stream passes their end.
                INSERT OR REPLACE INTO bot_state(key, value)
                    SELECT 'xp_daily_through', CAST(COALESCE((MAX(time_us) / 86400000000) * 86400, 0) AS TEXT) FROM ledger;
                -- Accounts that asked to be left off the leaderboards ("no rank").
                ALTER TABLE accounts ADD COLUMN unranked INTEGER NOT NULL DEFAULT 0;
                """)
        }
        migrator.registerMigration("v7-rank-events") { db in
            // Ranking changes with hysteresis: who is in each watched top N (and since when
            // out of range), and every entry and exit decided.
            try db.execute(sql: """
                CREATE TABLE rank_members(
                    window TEXT NOT NULL, threshold INTEGER NOT NULL, account_id INTEGER NOT NULL,
                    entered_us INTEGER NOT NULL, out_since_us INTEGER,
                    PRIMARY KEY(window, threshold, account_id)
                ) WITHOUT ROWID;
                CREATE TABLE rank_events(
                    id INTEGER PRIMARY KEY, time_us INTEGER NOT NULL, window TEXT NOT NULL,
                    threshold INTEGER NOT NULL, account_id INTEGER NOT NULL, kind TEXT NOT NULL, rank INTEGER
                );
                CREATE INDEX rank_events_time ON rank_events(time_us);
                """)
        }
        migrator.registerMigration("v8-rule-limits-shadow") { db in
            // Rule limits per account: XP or grants per cap window (key = window start),
            // a rule's last grant time, and once-per-subject keys (key = subject hash,
            // value = the granted record's key). Shadow packs: their ledger, totals and
            // the milestones they would have announced, apart from the live ones (their
            // grants share the grants table, with the shadow flag on the collection id).
            try db.execute(sql: """
                CREATE TABLE rule_limits(
                    account_id INTEGER NOT NULL, slot INTEGER NOT NULL, kind INTEGER NOT NULL,
                    key INTEGER NOT NULL, value INTEGER NOT NULL,
                    PRIMARY KEY(account_id, slot, kind, key)
                ) WITHOUT ROWID;
                CREATE TABLE shadow_ledger(
                    id INTEGER PRIMARY KEY,
                    account_id INTEGER NOT NULL,
                    collection_id INTEGER NOT NULL,
                    rkey NOT NULL,
                    kind INTEGER NOT NULL,
                    amount INTEGER NOT NULL,
                    rule_id INTEGER NOT NULL,
                    time_us INTEGER NOT NULL
                );
                CREATE TABLE shadow_totals(
                    account_id INTEGER PRIMARY KEY,
                    xp INTEGER NOT NULL, level INTEGER NOT NULL, max_level INTEGER NOT NULL
                );
                CREATE TABLE shadow_milestones(
                    account_id INTEGER NOT NULL, level INTEGER NOT NULL, time_us INTEGER NOT NULL,
                    PRIMARY KEY(account_id, level)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v9-commit-ops-seq") { db in
            // One repository commit carries several operations, each its own event with
            // the commit's rev: the operations applied at the last rev (hashes: the first,
            // and the others as comma-separated text) tell a second operation of the same
            // commit from one sent again. The relay seq of account and identity events
            // drops those sent again after a rewind or a failover.
            try db.execute(sql: """
                ALTER TABLE totals ADD COLUMN last_op INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE totals ADD COLUMN more_ops TEXT;
                ALTER TABLE accounts ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
                """)
        }
        migrator.registerMigration("v10-lowercase-handles") { db in
            // Handles are case-insensitive and the host now stores them lowercased (after
            // checking their syntax), so a lookup by handle is an index probe on
            // accounts(handle), not a COLLATE NOCASE scan of every account.
            try db.execute(sql: "UPDATE accounts SET handle = lower(handle) WHERE handle IS NOT NULL AND handle != lower(handle)")
        }
        migrator.registerMigration("v11-profiles") { db in
            // Names fetched with app.bsky.actor.getProfiles (ProfileResolver), apart from the
            // accounts row the engine writes: the stream's handle and a fetched one are kept
            // side by side and the newer is shown.
            try db.execute(sql: """
                CREATE TABLE profiles(
                    account_id INTEGER PRIMARY KEY,
                    handle TEXT,
                    display_name TEXT,
                    fetched_us INTEGER NOT NULL
                );
                CREATE INDEX profiles_handle ON profiles(handle);
                """)
        }
        migrator.registerMigration("v12-seasons") { db in
            // The top N of each season that has ended, written once when the stream passed
            // its end (docs/rankings.md, Seasons): immutable, whatever happens to the
            // accounts afterwards.
            try db.execute(sql: """
                CREATE TABLE season_archive(
                    season TEXT NOT NULL,
                    rank INTEGER NOT NULL,
                    did TEXT NOT NULL,
                    handle TEXT,
                    score INTEGER NOT NULL,
                    xp INTEGER NOT NULL,
                    level INTEGER NOT NULL,
                    start_us INTEGER NOT NULL,
                    end_us INTEGER NOT NULL,
                    archived_us INTEGER NOT NULL,
                    PRIMARY KEY(season, rank)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v13-labels") { db in
            // The labeler (docs/labels.md): signed labels in one sequence that is never
            // reused (AUTOINCREMENT: sqlite_sequence keeps the highest number even when
            // old labels are pruned), and the label each account carries now. The partial
            // index keeps a labeler pass proportional to the accounts that opted in.
            try db.execute(sql: """
                CREATE TABLE labels(
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    src TEXT NOT NULL,
                    uri TEXT NOT NULL,
                    val TEXT NOT NULL,
                    neg INTEGER NOT NULL,
                    cts TEXT NOT NULL,
                    exp TEXT,
                    sig BLOB NOT NULL
                );
                CREATE INDEX labels_uri ON labels(uri);
                CREATE TABLE label_current(did TEXT PRIMARY KEY, val TEXT NOT NULL, exp TEXT, seq INTEGER NOT NULL) WITHOUT ROWID;
                CREATE INDEX accounts_consenting ON accounts(consent) WHERE consent IN ('opted_in', 'no_ping');
                """)
        }
        return migrator
    }
}

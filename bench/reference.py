#!/usr/bin/env python3
"""Independent Python reference pipeline of the default leveling rules.

    python3 bench/reference.py CAPTURE --db PATH [--batch 10000] [--export PATH.jsonl] [--stats]

CAPTURE is a Jetstream v1 JSON-lines file, `-` for stdin, or a `.zst` file (needs the optional
`zstandard` package). State persists in SQLite (WAL, synchronous=NORMAL) with one transaction
per batch of input lines; the hot state (last revs, live grants, totals) lives in dicts and is
loaded back from the database at start, so running the same capture again into the same --db
changes nothing.

It is both the performance baseline for the Swift host and the oracle its tests compare against,
so the rules are spelled out here exactly (they settle the spec's open points):

1. Only `kind:"commit"` events change XP. Malformed lines are counted and skipped: invalid JSON,
   not an object, `did` not a string, `time_us` not an integer, `kind` not a string; a commit
   without a `commit` object, without string `rev`/`operation`/`collection`/`rkey`, with an
   operation other than create/update/delete, or a create/update whose `record` is not an
   object; an identity/account event without its `identity`/`account` object. Unknown kinds are
   skipped without counting as malformed (and do not create an account). Blank lines are ignored.
2. Per-DID dedupe: a well-formed commit (any collection and operation) whose `rev` is < the
   DID's last applied rev (string comparison) is ignored; at the same rev it is ignored only when
   the same (collection, rkey, operation) was already applied at that rev (one repository commit
   is one event per operation, all with the commit's rev); otherwise it is applied, and a greater
   rev becomes the last rev with its set of applied operations. Both persist with the account.
3. Amounts: post 50 / 60 / 70 (no media / media not all described / all described); like 10, 0
   if self; repost 0 if self, else the recorded amount of the reposted post if that post has a
   live grant, else 50. Other collections grant nothing and are not recorded.
4. create of a live key: nothing; else record the grant (even 0) and add it. update of a live
   key: re-grade (delta = new - recorded); of a non-live key: nothing. delete of a live key:
   revoke the recorded amount; else nothing. XP is clamped at 0 after every change.
5. Level L needs base*(L-1) + step*(L-1)*(L-2)/2 XP (50, 100). Milestones (5, 10, 25, 50, 100)
   are every milestone <= the highest level ever reached, recorded once.
6. identity sets the handle when `identity.handle` is a string; account sets status "active"
   when `account.active` is true, else `account.status` (or "inactive"); an account event whose
   `active` is not a JSON boolean is malformed. An identity or account event with an integer
   `seq` > 0, for a DID that already has a last applied seq (one per DID, shared by both kinds),
   is applied only if its seq is greater; otherwise (no seq, or none stored yet) it is applied
   only if its time_us >= the last applied time_us of that kind for that DID. An applied event
   with a seq stores it.
7. Accounts = every DID of a well-formed commit/identity/account event.

The summary line printed at the end:
  events      non-blank input lines read in this run (malformed ones included)
  malformed   lines rejected by rule 1 in this run
  accounts    accounts in the database after the run
  xp_granted  total XP held by all accounts after the run (sum of live grants, net of clamping)
  milestones  milestone rows in the database after the run
  seconds     wall time of load + processing + commits (export excluded)
"""

from __future__ import annotations

import argparse
import io
import json
import sqlite3
import sys
import time

import orjson

POST = "app.bsky.feed.post"
LIKE = "app.bsky.feed.like"
REPOST = "app.bsky.feed.repost"
GRANTING = frozenset((POST, LIKE, REPOST))
OPERATIONS = frozenset(("create", "update", "delete"))

EMBED_IMAGES = "app.bsky.embed.images"
EMBED_VIDEO = "app.bsky.embed.video"
EMBED_GALLERY = "app.bsky.embed.gallery"
EMBED_RECORD_WITH_MEDIA = "app.bsky.embed.recordWithMedia"

AMOUNT_POST, AMOUNT_POST_MEDIA, AMOUNT_POST_DESCRIBED = 50, 60, 70
AMOUNT_LIKE = 10
AMOUNT_REPOST_UNSEEN = 50
LEVEL_BASE, LEVEL_STEP = 50, 100
MILESTONES = (5, 10, 25, 50, 100)

# The Unicode White_Space property (PropList.txt), exactly. str.isspace() differs on U+001C..1F.
WHITE_SPACE = ("\u0009\u000a\u000b\u000c\u000d\u0020\u0085\u00a0\u1680\u2000\u2001\u2002\u2003"
               "\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


# ------------------------------------------------------------------------------------------
# Pure rule functions (also used by the self-checks)

def level_threshold(level: int, base: int = LEVEL_BASE, step: int = LEVEL_STEP) -> int:
    """Total XP needed to reach `level` (level 1 needs 0)."""
    n = level - 1
    return base * n + step * n * (n - 1) // 2


def level_for_xp(xp: int, base: int = LEVEL_BASE, step: int = LEVEL_STEP) -> int:
    if xp <= 0:
        return 1
    # Closed-form estimate of the quadratic, then exact integer correction.
    if step:
        a, b = step / 2.0, base - step / 2.0
        n = int((-b + (b * b + 4 * a * xp) ** 0.5) / (2 * a))
    else:
        n = xp // base
    n = max(n, 0)
    while level_threshold(n + 2, base, step) <= xp:
        n += 1
    while n > 0 and level_threshold(n + 1, base, step) > xp:
        n -= 1
    return n + 1


def is_described(item) -> bool:
    if type(item) is not dict:
        return False
    alt = item.get("alt")
    return type(alt) is str and alt.strip(WHITE_SPACE) != ""


def media_items(embed, top_level: bool = True):
    """The media items of an embed, or None when the post has no media."""
    if type(embed) is not dict:
        return None
    t = embed.get("$type")
    if t == EMBED_IMAGES:
        images = embed.get("images")
        return images if type(images) is list and images else None
    if t == EMBED_VIDEO:
        return (embed,)  # one item, described by the embed's own `alt`
    if t == EMBED_GALLERY:
        items = embed.get("items")
        return items if type(items) is list and items else None
    if t == EMBED_RECORD_WITH_MEDIA and top_level:
        # media is judged as images/video/gallery; external (or anything else) is no media.
        return media_items(embed.get("media"), top_level=False)
    return None


def post_amount(record: dict) -> int:
    items = media_items(record.get("embed"))
    if items is None:
        return AMOUNT_POST
    for item in items:
        if not is_described(item):
            return AMOUNT_POST_MEDIA
    return AMOUNT_POST_DESCRIBED


def subject_uri(record: dict):
    subject = record.get("subject")
    if type(subject) is dict:
        uri = subject.get("uri")
        if type(uri) is str:
            return uri
    return None


# ------------------------------------------------------------------------------------------
# State

class Account:
    __slots__ = ("xp", "max_level", "next_threshold", "last_rev", "last_ops", "handle", "status",
                 "identity_t", "account_t", "last_seq")

    def __init__(self):
        self.xp = 0
        self.max_level = 1
        self.next_threshold = level_threshold(2)  # XP at which max_level must be recomputed
        self.last_rev = None
        self.last_ops = set()  # (collection, rkey, operation) applied at last_rev
        self.last_seq = None
        self.handle = None
        self.status = "active"
        self.identity_t = None
        self.account_t = None


SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts(
  did TEXT PRIMARY KEY,
  xp INTEGER NOT NULL,
  level INTEGER NOT NULL,
  max_level INTEGER NOT NULL,
  last_rev TEXT,
  handle TEXT,
  status TEXT NOT NULL,
  identity_time_us INTEGER,
  account_time_us INTEGER,
  last_ops TEXT,
  last_seq INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS grants(
  did TEXT NOT NULL,
  collection TEXT NOT NULL,
  rkey TEXT NOT NULL,
  amount INTEGER NOT NULL,
  live INTEGER NOT NULL,
  PRIMARY KEY(did, collection, rkey)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger(
  id INTEGER PRIMARY KEY,
  did TEXT NOT NULL,
  collection TEXT NOT NULL,
  rkey TEXT NOT NULL,
  operation TEXT NOT NULL,
  amount INTEGER NOT NULL,
  xp_after INTEGER NOT NULL,
  rev TEXT NOT NULL,
  time_us INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS milestones(
  did TEXT NOT NULL,
  level INTEGER NOT NULL,
  time_us INTEGER NOT NULL,
  PRIMARY KEY(did, level)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cursor(
  source TEXT PRIMARY KEY,
  time_us INTEGER NOT NULL
);
"""


class Pipeline:
    def __init__(self, db_path: str, batch: int = 10_000):
        self.batch = max(1, batch)
        self.db = sqlite3.connect(db_path, isolation_level=None)  # explicit BEGIN/COMMIT
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA cache_size=-262144")  # 256 MiB: the grants index is the hot spot
        self.db.executescript(SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(accounts)")}
        for column, kind in (("last_ops", "TEXT"), ("last_seq", "INTEGER")):
            if column not in columns:  # a database of an older reference
                self.db.execute(f"ALTER TABLE accounts ADD COLUMN {column} {kind}")

        self.accounts: dict[str, Account] = {}
        self.grants: dict[tuple, int] = {}  # live grants only: (did, collection, rkey) -> amount
        self.milestone_count = 0
        self.cursor = None
        self.events = 0
        self.malformed = 0
        self.counters = {"duplicate_rev": 0, "unknown_kind": 0, "applied_commits": 0, "ledger_rows": 0}
        self._load()
        self._reset_batch()

    def _load(self) -> None:
        intern = sys.intern
        for did, xp, max_level, last_rev, handle, status, it, at, ops, seq in self.db.execute(
                "SELECT did, xp, max_level, last_rev, handle, status, identity_time_us, account_time_us,"
                " last_ops, last_seq FROM accounts"):
            a = Account()
            a.xp, a.max_level, a.last_rev, a.handle, a.status = xp, max_level, last_rev, handle, status
            a.last_ops = {tuple(op) for op in json.loads(ops)} if ops else set()
            a.last_seq = seq
            a.next_threshold = level_threshold(max_level + 1)
            a.identity_t, a.account_t = it, at
            self.accounts[intern(did)] = a
        collections = {}
        grants = self.grants
        for did, coll, rkey, amount in self.db.execute(
                "SELECT did, collection, rkey, amount FROM grants WHERE live = 1"):
            coll = collections.setdefault(coll, coll)
            grants[(intern(did), coll, rkey)] = amount
        self.milestone_count = self.db.execute("SELECT count(*) FROM milestones").fetchone()[0]
        row = self.db.execute("SELECT time_us FROM cursor WHERE source = 'capture'").fetchone()
        self.cursor = row[0] if row else None

    def _reset_batch(self) -> None:
        self.dirty_accounts: set[str] = set()
        self.dirty_grants: dict[tuple, tuple] = {}  # key -> (amount, live)
        self.ledger_rows: list[tuple] = []
        self.milestone_rows: list[tuple] = []

    # -------------------------------------------------------------------- processing
    def run(self, lines) -> None:
        """Process an iterable of raw lines (bytes), committing every `batch` lines."""
        pending = 0
        batch = self.batch
        apply = self.apply
        for line in lines:
            apply(line)
            pending += 1
            if pending >= batch:
                self.flush()
                pending = 0
        self.flush()

    def _account(self, did: str) -> Account:
        a = self.accounts.get(did)
        if a is None:
            a = self.accounts[sys.intern(did)] = Account()
        return a

    def apply(self, line) -> None:
        try:
            ev = orjson.loads(line)
        except orjson.JSONDecodeError:
            if line.strip():
                self.events += 1
                self.malformed += 1
            return
        self.events += 1
        if type(ev) is not dict:
            self.malformed += 1
            return
        did = ev.get("did")
        t = ev.get("time_us")
        kind = ev.get("kind")
        # `type(...) is int` on purpose: JSON true/false decode to bool, a subclass of int.
        if type(did) is not str or type(t) is not int or type(kind) is not str or t < 0 or did == "":
            self.malformed += 1
            return

        if kind == "commit":
            c = ev.get("commit")
            if type(c) is not dict:
                self.malformed += 1
                return
            rev, op, coll, rkey = c.get("rev"), c.get("operation"), c.get("collection"), c.get("rkey")
            if (type(rev) is not str or type(op) is not str or type(coll) is not str
                    or type(rkey) is not str or op not in OPERATIONS):
                self.malformed += 1
                return
            record = None
            if op != "delete":
                record = c.get("record")
                if type(record) is not dict:
                    self.malformed += 1
                    return
            a = self._account(did)
            self._see(t)
            op_key = (coll, rkey, op)
            if a.last_rev is not None and (rev < a.last_rev or (rev == a.last_rev and op_key in a.last_ops)):
                self.counters["duplicate_rev"] += 1
                return
            if a.last_rev is None or rev > a.last_rev:
                a.last_rev = rev
                a.last_ops = {op_key}
            else:
                a.last_ops.add(op_key)
            self.dirty_accounts.add(did)
            self.counters["applied_commits"] += 1
            if coll in GRANTING:
                self._apply_grant(a, did, t, rev, op, coll, rkey, record)

        elif kind == "identity":
            body = ev.get("identity")
            if type(body) is not dict:
                self.malformed += 1
                return
            a = self._account(did)
            self._see(t)
            self.dirty_accounts.add(did)
            if self._accept_seq(a, body, a.identity_t is None or t >= a.identity_t):
                a.identity_t = t if a.identity_t is None else max(a.identity_t, t)
                handle = body.get("handle")
                if type(handle) is str:
                    a.handle = handle

        elif kind == "account":
            body = ev.get("account")
            # `active` is a required boolean of the account event: anything else is malformed.
            if type(body) is not dict or type(body.get("active")) is not bool:
                self.malformed += 1
                return
            a = self._account(did)
            self._see(t)
            self.dirty_accounts.add(did)
            if self._accept_seq(a, body, a.account_t is None or t >= a.account_t):
                a.account_t = t if a.account_t is None else max(a.account_t, t)
                if body.get("active") is True:
                    a.status = "active"
                else:
                    status = body.get("status")
                    a.status = status if type(status) is str else "inactive"
        else:
            self.counters["unknown_kind"] += 1

    @staticmethod
    def _accept_seq(a: Account, body: dict, newer: bool) -> bool:
        """Rule 6: the relay seq orders identity and account events when both the event and
        the account have one; otherwise their time_us does."""
        seq = body.get("seq")
        if type(seq) is not int or seq <= 0:
            return newer
        if not (seq > a.last_seq if a.last_seq else newer):
            return False
        a.last_seq = seq
        return True

    def _see(self, t: int) -> None:
        if self.cursor is None or t > self.cursor:
            self.cursor = t

    def _amount(self, did: str, coll: str, record: dict) -> int:
        if coll == POST:
            return post_amount(record)
        uri = subject_uri(record)
        if uri is not None and uri.startswith("at://" + did + "/"):
            return 0  # self-like / self-repost
        if coll == LIKE:
            return AMOUNT_LIKE
        # Repost: the class of the reposted post while it has a live grant.
        if uri is not None and uri.startswith("at://"):
            parts = uri[5:].split("/")
            if len(parts) == 3 and parts[1] == POST:
                amount = self.grants.get((parts[0], POST, parts[2]))
                if amount is not None:
                    return amount
        return AMOUNT_REPOST_UNSEEN

    def _apply_grant(self, a: Account, did: str, t: int, rev: str, op: str, coll: str, rkey: str,
                     record) -> None:
        key = (did, coll, rkey)
        old = self.grants.get(key)
        if op == "create":
            if old is not None:
                return
            new = self._amount(did, coll, record)
            delta = new
            self.grants[key] = new
            self.dirty_grants[key] = (new, 1)
        elif op == "update":
            if old is None:
                return
            new = self._amount(did, coll, record)
            delta = new - old
            self.grants[key] = new
            self.dirty_grants[key] = (new, 1)
        else:  # delete
            if old is None:
                return
            delta = -old
            del self.grants[key]
            self.dirty_grants[key] = (old, 0)
        xp = a.xp + delta
        if xp < 0:
            xp = 0
        a.xp = xp
        self.ledger_rows.append((did, coll, rkey, op, delta, xp, rev, t))
        if xp >= a.next_threshold:
            old_max = a.max_level
            a.max_level = level_for_xp(xp)
            a.next_threshold = level_threshold(a.max_level + 1)
            for m in MILESTONES:
                if old_max < m <= a.max_level:
                    self.milestone_rows.append((did, m, t))

    # -------------------------------------------------------------------- persistence
    def flush(self) -> None:
        """One transaction: ledger rows, grants, account totals, milestones and the cursor."""
        if not (self.dirty_accounts or self.dirty_grants or self.ledger_rows or self.milestone_rows):
            return
        db = self.db
        db.execute("BEGIN")
        try:
            db.executemany(
                "INSERT INTO ledger(did, collection, rkey, operation, amount, xp_after, rev, time_us)"
                " VALUES (?,?,?,?,?,?,?,?)", self.ledger_rows)
            # Sorted keys: B-tree inserts in key order touch far fewer pages.
            db.executemany(
                "INSERT INTO grants(did, collection, rkey, amount, live) VALUES (?,?,?,?,?)"
                " ON CONFLICT(did, collection, rkey) DO UPDATE SET amount = excluded.amount, live = excluded.live",
                [(k[0], k[1], k[2], v[0], v[1]) for k, v in sorted(self.dirty_grants.items())])
            accounts = self.accounts
            rows = []
            for did in sorted(self.dirty_accounts):
                a = accounts[did]
                rows.append((did, a.xp, level_for_xp(a.xp), a.max_level, a.last_rev, a.handle, a.status,
                             a.identity_t, a.account_t, json.dumps(sorted(a.last_ops)) if a.last_ops else None,
                             a.last_seq))
            db.executemany(
                "INSERT INTO accounts(did, xp, level, max_level, last_rev, handle, status,"
                " identity_time_us, account_time_us, last_ops, last_seq) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(did) DO UPDATE SET xp = excluded.xp, level = excluded.level,"
                " max_level = excluded.max_level, last_rev = excluded.last_rev, handle = excluded.handle,"
                " status = excluded.status, identity_time_us = excluded.identity_time_us,"
                " account_time_us = excluded.account_time_us, last_ops = excluded.last_ops,"
                " last_seq = excluded.last_seq", rows)
            cur = db.executemany("INSERT OR IGNORE INTO milestones(did, level, time_us) VALUES (?,?,?)",
                                 self.milestone_rows)
            self.milestone_count += max(cur.rowcount, 0)
            if self.cursor is not None:
                db.execute("INSERT INTO cursor(source, time_us) VALUES ('capture', ?)"
                           " ON CONFLICT(source) DO UPDATE SET time_us = max(time_us, excluded.time_us)",
                           (self.cursor,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.counters["ledger_rows"] += len(self.ledger_rows)
        self._reset_batch()

    # -------------------------------------------------------------------- results
    def export_rows(self) -> list[dict]:
        rows = []
        for did in sorted(self.accounts):
            a = self.accounts[did]
            rows.append({"did": did, "handle": a.handle, "xp": a.xp, "level": level_for_xp(a.xp),
                         "milestones": [m for m in MILESTONES if m <= a.max_level], "status": a.status})
        return rows

    def summary(self, seconds: float) -> dict:
        return {"events": self.events, "malformed": self.malformed, "accounts": len(self.accounts),
                "xp_granted": sum(a.xp for a in self.accounts.values()),
                "milestones": self.milestone_count, "seconds": round(seconds, 3),
                "events_per_s": round(self.events / seconds) if seconds > 0 else None}

    def close(self) -> None:
        self.db.close()


def open_input(path: str):
    if path == "-":
        return sys.stdin.buffer
    if path.endswith(".zst"):
        try:
            import zstandard
        except ImportError:
            sys.exit("reading .zst needs the optional package: pip install zstandard")
        raw = open(path, "rb")
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return io.BufferedReader(reader, buffer_size=1 << 20)
    return open(path, "rb", buffering=1 << 20)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Reference leveling pipeline (performance baseline and oracle).")
    ap.add_argument("capture", help="JSON-lines capture, - for stdin, or .zst")
    ap.add_argument("--db", required=True, help="SQLite database (created if missing, resumed if present)")
    ap.add_argument("--batch", type=int, default=10_000, help="input lines per transaction")
    ap.add_argument("--export", help="write the per-account state as JSON lines, sorted by did")
    ap.add_argument("--stats", action="store_true", help="print extra counters as JSON on stderr")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    pipe = Pipeline(args.db, args.batch)
    src = open_input(args.capture)
    try:
        pipe.run(src)
    finally:
        if src is not sys.stdin.buffer:
            src.close()
    seconds = time.perf_counter() - t0
    if args.export:
        with open(args.export, "wb") as out:
            for row in pipe.export_rows():
                out.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))
    if args.stats:
        print(orjson.dumps(dict(pipe.counters, live_grants=len(pipe.grants), cursor=pipe.cursor)).decode(),
              file=sys.stderr)
    pipe.close()
    print(orjson.dumps(pipe.summary(seconds)).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())

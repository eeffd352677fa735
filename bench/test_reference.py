#!/usr/bin/env python3
"""Self-checks for bench/reference.py (and a smoke test of bench/gen_capture.py).

    python3 bench/test_reference.py        # exits non-zero on the first failing group

Every rule of reference.py is pinned by tiny hand-written events, so that the oracle the Swift
tests trust is itself checked against numbers worked out by hand from the spec.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import traceback

import orjson

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import reference  # noqa: E402
from reference import Pipeline, level_for_xp, level_threshold  # noqa: E402

ALICE = "did:plc:alice000000000000000000000"
BOB = "did:plc:bob00000000000000000000000"
CAROL = "did:plc:carol000000000000000000000"

_T = [1_783_175_888_000_000]
_REV = {}


def next_t() -> int:
    _T[0] += 1000
    return _T[0]


def next_rev(did: str) -> str:
    # Any strictly increasing strings work as revs; TID-like 13 chars keep them realistic.
    n = _REV[did] = _REV.get(did, 0) + 1
    return "3mpt%09d" % n


def commit(did, op, coll, rkey, record=None, rev=None, t=None) -> bytes:
    c = {"rev": rev or next_rev(did), "operation": op, "collection": coll, "rkey": rkey}
    if op != "delete":
        c["record"] = record
        c["cid"] = "bafyreitest"
    return orjson.dumps({"did": did, "time_us": t or next_t(), "kind": "commit", "commit": c})


def post(did, rkey, embed=None, **kw) -> bytes:
    rec = {"$type": "app.bsky.feed.post", "createdAt": "2026-07-04T14:38:07.000Z", "text": "hi"}
    if embed is not None:
        rec["embed"] = embed
    return commit(did, kw.pop("op", "create"), "app.bsky.feed.post", rkey, rec, **kw)


def subject(uri):
    return {"cid": "bafyreisubject", "uri": uri}


def like(did, rkey, uri, **kw) -> bytes:
    return commit(did, kw.pop("op", "create"), "app.bsky.feed.like", rkey,
                  {"$type": "app.bsky.feed.like", "createdAt": "2026-07-04T14:38:07.000Z", "subject": subject(uri)}, **kw)


def repost(did, rkey, uri, **kw) -> bytes:
    return commit(did, kw.pop("op", "create"), "app.bsky.feed.repost", rkey,
                  {"$type": "app.bsky.feed.repost", "createdAt": "2026-07-04T14:38:07.000Z", "subject": subject(uri)}, **kw)


def delete(did, coll, rkey, **kw) -> bytes:
    return commit(did, "delete", coll, rkey, **kw)


def post_uri(did, rkey):
    return "at://%s/app.bsky.feed.post/%s" % (did, rkey)


def image(alt="__absent__"):
    item = {"image": {"$type": "blob", "ref": {"$link": "bafkreiimg"}, "mimeType": "image/jpeg", "size": 1}}
    if alt != "__absent__":
        item["alt"] = alt
    return item


def images(*alts):
    return {"$type": "app.bsky.embed.images", "images": [image(a) for a in alts]}


def video(alt="__absent__"):
    e = {"$type": "app.bsky.embed.video", "video": {"$type": "blob", "ref": {"$link": "bafkreivid"},
                                                    "mimeType": "video/mp4", "size": 1}}
    if alt != "__absent__":
        e["alt"] = alt
    return e


def gallery(*alts):
    return {"$type": "app.bsky.embed.gallery", "items": [image(a) for a in alts]}


def external():
    return {"$type": "app.bsky.embed.external", "external": {"description": "", "title": "t", "uri": "https://x"}}


def quote():
    return {"$type": "app.bsky.embed.record", "record": subject(post_uri(BOB, "3quoted"))}


def rwm(media):
    return {"$type": "app.bsky.embed.recordWithMedia", "media": media,
            "record": {"$type": "app.bsky.embed.record", "record": subject(post_uri(BOB, "3quoted"))}}


def identity(did, handle=None, t=None, seq=None) -> bytes:
    """An identity event; with `seq` the relay sequence number (rule 6), else none."""
    body = {"did": did, "time": "2026-07-04T14:38:07.000Z"}
    if seq is not None:
        body["seq"] = seq
    if handle is not None:
        body["handle"] = handle
    return orjson.dumps({"did": did, "time_us": t or next_t(), "kind": "identity", "identity": body})


def account(did, active, status=None, t=None, seq=None) -> bytes:
    """An account event; with `seq` the relay sequence number (rule 6), else none."""
    body = {"active": active, "did": did, "time": "2026-07-04T14:38:07.000Z"}
    if seq is not None:
        body["seq"] = seq
    if status is not None:
        body["status"] = status
    return orjson.dumps({"did": did, "time_us": t or next_t(), "kind": "account", "account": body})


# ------------------------------------------------------------------------------------------
# Harness

class Fail(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def eq(got, want, msg=""):
    if got != want:
        raise Fail("%s: got %r, want %r" % (msg, got, want))


class Run:
    """A Pipeline on a fresh temporary database; reopen() simulates a restart."""

    def __init__(self, batch=10_000):
        self.dir = tempfile.mkdtemp(prefix="reftest-")
        self.db = os.path.join(self.dir, "t.sqlite")
        self.batch = batch
        self.pipe = Pipeline(self.db, batch)

    def feed(self, *lines):
        self.pipe.run(lines)
        return self

    def reopen(self):
        self.pipe.close()
        self.pipe = Pipeline(self.db, self.batch)
        return self

    def acct(self, did):
        for row in self.pipe.export_rows():
            if row["did"] == did:
                return row
        return None

    def xp(self, did):
        row = self.acct(did)
        return None if row is None else row["xp"]

    def close(self):
        self.pipe.close()
        shutil.rmtree(self.dir, ignore_errors=True)


TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


# ------------------------------------------------------------------------------------------
# Rule 5: levels

@test
def levels():
    eq(level_threshold(1), 0, "L1")
    eq(level_threshold(2), 50, "L2")
    eq(level_threshold(3), 200, "L3")
    eq(level_threshold(4), 450, "L4")
    eq(level_threshold(10), 4050, "L10")
    eq(level_threshold(100), 490_050, "L100")
    for xp, lvl in [(0, 1), (49, 1), (50, 2), (199, 2), (200, 3), (449, 3), (450, 4), (4049, 9), (4050, 10),
                    (490_049, 99), (490_050, 100), (10 ** 12, 141_422)]:
        eq(level_for_xp(xp), lvl, "level_for_xp(%d)" % xp)
    for L in range(1, 3000):  # closed form agrees with the definition everywhere
        eq(level_for_xp(level_threshold(L)), L, "at threshold %d" % L)
        eq(level_for_xp(level_threshold(L + 1) - 1), L, "below threshold %d" % (L + 1))
    eq(level_for_xp(100, base=10, step=0), 11, "step 0")


# ------------------------------------------------------------------------------------------
# Rule 3: amounts

@test
def post_classes():
    cases = [
        (None, 50, "no embed"),
        (external(), 50, "external card"),
        (quote(), 50, "quote"),
        (images("a cat"), 70, "one described image"),
        (images("a", "b", "c", "d"), 70, "four described"),
        (images("a", ""), 60, "one empty alt"),
        (images(""), 60, "empty alt"),
        (images("  "), 60, "spaces"),
        (images("\n\t"), 60, "newline tab"),
        (images("\u3000"), 60, "ideographic space"),
        (images("\u00a0\u2003"), 60, "nbsp em space"),
        (images(" x "), 70, "padded but described"),
        (images("\u200b"), 70, "zero-width space is not White_Space"),
        (images("\x1f"), 70, "U+001F is not White_Space (str.isspace says it is)"),
        (images(), 50, "empty images array is no media"),
        ({"$type": "app.bsky.embed.images", "images": "nope"}, 50, "images not an array"),
        ({"$type": "app.bsky.embed.images", "images": [image("ok"), "str"]}, 60, "non-object item"),
        (images("__absent__"), 60, "image without alt key"),
        ({"$type": "app.bsky.embed.images", "images": [dict(image(), alt=5)]}, 60, "alt not a string"),
        (video(), 60, "video without alt"),
        (video(""), 60, "video blank alt"),
        (video(" \t"), 60, "video whitespace alt"),
        (video("a clip"), 70, "video described"),
        (gallery("a", "b", "c"), 70, "gallery described"),
        (gallery("a", "", "c"), 60, "gallery mixed"),
        ({"$type": "app.bsky.embed.gallery", "items": []}, 50, "empty gallery"),
        (rwm(images("x")), 70, "rwm described image"),
        (rwm(images("")), 60, "rwm undescribed image"),
        (rwm(video()), 60, "rwm video without alt"),
        (rwm(video("v")), 70, "rwm video with alt"),
        (rwm(gallery("g", "\u3000")), 60, "rwm gallery mixed"),
        (rwm(external()), 50, "rwm external is no media"),
        (rwm(rwm(images("x"))), 50, "nested rwm is not media"),
        ({"$type": "app.bsky.embed.recordWithMedia"}, 50, "rwm without media"),
        ("not an object", 50, "embed not an object"),
    ]
    for i, (embed, want, name) in enumerate(cases):
        r = Run()
        try:
            r.feed(post(ALICE, "3p%d" % i, embed))
            eq(r.xp(ALICE), want, name)
        finally:
            r.close()


@test
def likes_and_self():
    r = Run()
    try:
        r.feed(like(ALICE, "3l1", post_uri(BOB, "3b1")))
        eq(r.xp(ALICE), 10, "like")
        r.feed(like(ALICE, "3l2", post_uri(ALICE, "3a1")))
        eq(r.xp(ALICE), 10, "self-like grants 0")
        # at://<did> without the trailing slash is another account whose DID has ours as prefix
        r.feed(like(ALICE, "3l3", "at://" + ALICE + "x/app.bsky.feed.post/3zz"))
        eq(r.xp(ALICE), 20, "prefix DID is not self")
        # missing / non-string subject uri: not self
        r.feed(commit(ALICE, "create", "app.bsky.feed.like", "3l4", {"$type": "app.bsky.feed.like"}))
        r.feed(commit(ALICE, "create", "app.bsky.feed.like", "3l5", {"subject": {"uri": 7}}))
        eq(r.xp(ALICE), 40, "missing subject uri is a normal like")
        # the self-like's grant of 0 is recorded: deleting it revokes 0, re-creating changes nothing
        r.feed(delete(ALICE, "app.bsky.feed.like", "3l2"))
        eq(r.xp(ALICE), 40, "delete of 0-grant")
        r.feed(repost(ALICE, "3r1", post_uri(ALICE, "3a1")))
        eq(r.xp(ALICE), 40, "self-repost grants 0")
    finally:
        r.close()


@test
def repost_classes():
    r = Run()
    try:
        r.feed(post(BOB, "3p50"), post(BOB, "3p60", images("")), post(BOB, "3p70", images("cat")))
        eq(r.xp(BOB), 180, "bob's posts")
        r.feed(repost(ALICE, "3r1", post_uri(BOB, "3p50")))
        eq(r.xp(ALICE), 50, "repost of a 50 post")
        r.feed(repost(ALICE, "3r2", post_uri(BOB, "3p60")))
        eq(r.xp(ALICE), 110, "repost of a 60 post")
        r.feed(repost(ALICE, "3r3", post_uri(BOB, "3p70")))
        eq(r.xp(ALICE), 180, "repost of a 70 post")
        r.feed(repost(ALICE, "3r4", post_uri(CAROL, "3never")))
        eq(r.xp(ALICE), 230, "repost of an unseen post is 50")
        r.feed(repost(ALICE, "3r5", "at://%s/app.bsky.feed.generator/3p70" % BOB))
        eq(r.xp(ALICE), 280, "non-post subject is 50")
        r.feed(repost(ALICE, "3r6", "https://bsky.app/x"), repost(ALICE, "3r7", post_uri(BOB, "3p70") + "/extra"))
        eq(r.xp(ALICE), 380, "unparsable uri is 50")
        # the post's class follows its updates; after its delete a repost is 50
        r.feed(post(BOB, "3p60", images("now described"), op="update"))
        eq(r.xp(BOB), 190, "bob's update 60 -> 70")
        r.feed(repost(ALICE, "3r8", post_uri(BOB, "3p60")))
        eq(r.xp(ALICE), 450, "repost sees the updated class")
        r.feed(delete(BOB, "app.bsky.feed.post", "3p70"))
        r.feed(repost(ALICE, "3r9", post_uri(BOB, "3p70")))
        eq(r.xp(ALICE), 500, "repost of a deleted 70 post is 50")
        # deleting the original does not touch the reposter's earlier grant
        eq(r.xp(BOB), 120, "bob after delete")
        r.feed(delete(ALICE, "app.bsky.feed.repost", "3r3"))
        eq(r.xp(ALICE), 430, "delete revokes the recorded 70")
    finally:
        r.close()


@test
def other_collections_grant_nothing():
    r = Run()
    try:
        r.feed(commit(ALICE, "create", "app.bsky.graph.follow", "3f1", {"subject": BOB}),
               commit(ALICE, "update", "app.bsky.actor.profile", "self", {"displayName": "A"}),
               commit(ALICE, "create", "fm.teal.alpha.actor.status", "self", {}),
               delete(ALICE, "app.bsky.graph.follow", "3f1"))
        row = r.acct(ALICE)
        eq((row["xp"], row["level"], row["milestones"], row["status"], row["handle"]),
           (0, 1, [], "active", None), "account exists with nothing")
        eq(len(r.pipe.grants), 0, "nothing recorded")
    finally:
        r.close()


# ------------------------------------------------------------------------------------------
# Rule 4: create / update / delete

@test
def create_update_delete():
    r = Run()
    try:
        r.feed(post(ALICE, "3p1"))
        eq(r.xp(ALICE), 50, "create")
        r.feed(post(ALICE, "3p1", images("alt")))
        eq(r.xp(ALICE), 50, "create of a live key (new rev) changes nothing")
        r.feed(post(ALICE, "3p1", images(""), op="update"))
        eq(r.xp(ALICE), 60, "update 50 -> 60")
        r.feed(post(ALICE, "3p1", images("x"), op="update"))
        eq(r.xp(ALICE), 70, "update 60 -> 70")
        r.feed(post(ALICE, "3p1", op="update"))
        eq(r.xp(ALICE), 50, "update 70 -> 50")
        r.feed(delete(ALICE, "app.bsky.feed.post", "3p1"))
        eq(r.xp(ALICE), 0, "delete revokes the recorded (updated) amount")
        r.feed(delete(ALICE, "app.bsky.feed.post", "3p1"))
        eq(r.xp(ALICE), 0, "second delete changes nothing")
        r.feed(post(ALICE, "3p1", images("x"), op="update"))
        eq(r.xp(ALICE), 0, "update of a deleted key changes nothing")
        r.feed(post(ALICE, "3p1", images("x")))
        eq(r.xp(ALICE), 70, "re-create after delete grants again")
        r.feed(delete(ALICE, "app.bsky.feed.like", "3never"), post(ALICE, "3unseen", images("x"), op="update"))
        eq(r.xp(ALICE), 70, "delete/update of unseen keys change nothing")
        # same rkey in another collection is another key
        r.feed(like(ALICE, "3p1", post_uri(BOB, "3b")))
        eq(r.xp(ALICE), 80, "same rkey, other collection")
        # update of a like re-grades it too (to a self-like: 0)
        r.feed(like(ALICE, "3p1", post_uri(ALICE, "3p1"), op="update"))
        eq(r.xp(ALICE), 70, "like update to self")
        # the ledger has one row per applied change, with the signed amount
        amounts = [row[0] for row in r.pipe.db.execute("SELECT amount FROM ledger ORDER BY id")]
        eq(amounts, [50, 10, 10, -20, -50, 70, 10, -10], "ledger amounts")
    finally:
        r.close()


@test
def clamp_at_zero():
    r = Run()
    try:
        r.feed(post(ALICE, "3p1", images("x")), like(ALICE, "3l1", post_uri(BOB, "3b")))
        eq(r.xp(ALICE), 80, "before")
        r.pipe.close()
        # An operator lowered the total behind the rules' back (the host's `adjust` command).
        db = sqlite3.connect(r.db)
        db.execute("UPDATE accounts SET xp = 5 WHERE did = ?", (ALICE,))
        db.commit()
        db.close()
        r.pipe = Pipeline(r.db)
        eq(r.xp(ALICE), 5, "reloaded adjusted xp")
        r.feed(delete(ALICE, "app.bsky.feed.post", "3p1"))
        eq(r.xp(ALICE), 0, "70 revoked from 5 clamps at 0")
        r.feed(like(ALICE, "3l2", post_uri(BOB, "3c")))
        eq(r.xp(ALICE), 10, "grants count from the clamped value")
        r.feed(post(ALICE, "3p2"), delete(ALICE, "app.bsky.feed.like", "3l1"), delete(ALICE, "app.bsky.feed.like", "3l2"))
        eq(r.xp(ALICE), 40, "60 - 10 - 10")
    finally:
        r.close()


# ------------------------------------------------------------------------------------------
# Rule 2: per-DID rev dedupe

@test
def duplicate_revs():
    r = Run()
    try:
        e1 = like(ALICE, "3l1", post_uri(BOB, "3b"), rev="3mpt000000010")
        r.feed(e1, e1)
        eq(r.xp(ALICE), 10, "exact duplicate")
        r.feed(like(ALICE, "3l2", post_uri(BOB, "3c"), rev="3mpt000000010"))
        eq(r.xp(ALICE), 20, "equal rev, another operation of the same commit: applied")
        r.feed(like(ALICE, "3l2", post_uri(BOB, "3c"), rev="3mpt000000010"))
        eq(r.xp(ALICE), 20, "equal rev, the same operation again: ignored")
        r.feed(delete(ALICE, "app.bsky.feed.like", "3l2", rev="3mpt000000010"))
        eq(r.xp(ALICE), 10, "equal rev, a delete of the same key is another operation")
        r.feed(like(ALICE, "3l3", post_uri(BOB, "3d"), rev="3mpt000000009"))
        eq(r.xp(ALICE), 10, "lower rev: ignored")
        # a non-granting commit also advances the rev
        r.feed(commit(ALICE, "create", "app.bsky.graph.follow", "3f", {"subject": BOB}, rev="3mpt000000020"))
        r.feed(like(ALICE, "3l4", post_uri(BOB, "3e"), rev="3mpt000000015"))
        eq(r.xp(ALICE), 10, "rev below a follow's rev: ignored")
        # deletes obey the same rule
        r.feed(delete(ALICE, "app.bsky.feed.like", "3l1", rev="3mpt000000019"))
        eq(r.xp(ALICE), 10, "stale delete ignored")
        r.feed(delete(ALICE, "app.bsky.feed.like", "3l1", rev="3mpt000000021"))
        eq(r.xp(ALICE), 0, "fresh delete applied")
        # revs are per DID: bob's low rev is fine
        r.feed(like(BOB, "3l1", post_uri(ALICE, "3x"), rev="2222222222222"))
        eq(r.xp(BOB), 10, "other DID")
        # plain string comparison (not length-first, not numeric)
        r.feed(like(CAROL, "3a", post_uri(BOB, "3x"), rev="b"), like(CAROL, "3b", post_uri(BOB, "3y"), rev="ab"))
        eq(r.xp(CAROL), 10, "'ab' < 'b' as strings")
        # survives a restart
        r.reopen()
        r.feed(like(ALICE, "3l8", post_uri(BOB, "3z"), rev="3mpt000000020"))
        eq(r.xp(ALICE), 0, "last rev reloaded from the db")
        r.feed(delete(ALICE, "app.bsky.feed.like", "3l1", rev="3mpt000000021"), like(ALICE, "3l1", post_uri(BOB, "3b"), rev="3mpt000000021"))
        eq(r.xp(ALICE), 10, "its applied operations reloaded too: the delete again is a duplicate, a new create of the commit counts")
    finally:
        r.close()


# ------------------------------------------------------------------------------------------
# Rule 5: milestones

@test
def milestones():
    r = Run()
    try:
        # 405 likes = 4050 XP = level 10 exactly
        lines = [like(ALICE, "3l%04d" % i, post_uri(BOB, "3b%d" % i)) for i in range(405)]
        r.feed(*lines[:404])
        row = r.acct(ALICE)
        eq((row["xp"], row["level"], row["milestones"]), (4040, 9, [5]), "one like short of 10")
        r.feed(lines[404])
        row = r.acct(ALICE)
        eq((row["xp"], row["level"], row["milestones"]), (4050, 10, [5, 10]), "level 10")
        # losing XP keeps milestones; regaining does not duplicate them
        dels = [delete(ALICE, "app.bsky.feed.like", "3l%04d" % i) for i in range(400)]
        r.feed(*dels)
        row = r.acct(ALICE)
        eq((row["xp"], row["level"], row["milestones"]), (50, 2, [5, 10]), "after losing XP")
        more = [like(ALICE, "3m%04d" % i, post_uri(BOB, "3c%d" % i)) for i in range(500)]
        r.feed(*more)
        row = r.acct(ALICE)
        eq((row["xp"], row["level"], row["milestones"]), (5050, 11, [5, 10]), "regained")
        n = r.pipe.db.execute("SELECT count(*) FROM milestones WHERE did = ?", (ALICE,)).fetchone()[0]
        eq(n, 2, "milestone rows")
        # the highest level ever reached survives a restart
        r.feed(*[delete(ALICE, "app.bsky.feed.like", "3m%04d" % i) for i in range(500)])
        r.reopen()
        row = r.acct(ALICE)
        eq((row["xp"], row["level"], row["milestones"]), (50, 2, [5, 10]), "after restart")
        # jumping several milestones at once records all of them (level 26 = 31250 XP)
        r.feed(*[like(CAROL, "3j%05d" % i, post_uri(BOB, "3d%d" % i)) for i in range(3125)])
        eq(r.acct(CAROL)["milestones"], [5, 10, 25], "carol")
        eq(r.pipe.milestone_count, 5, "total milestone rows")
    finally:
        r.close()


@test
def multi_op_commits():
    r = Run()
    try:
        # A thread posted at once: three events, one rev; all count, and once only.
        thread = [post(ALICE, "3t%d" % i, rev="3mpt000000100") for i in range(3)]
        r.feed(*thread)
        eq(r.xp(ALICE), 150, "every post of one commit counts")
        r.reopen()
        r.feed(*thread)
        eq(r.xp(ALICE), 150, "the commit sent again after a restart counts nothing")
        # A bulk delete through applyWrites: one rev, every grant revoked.
        r.feed(*[delete(ALICE, "app.bsky.feed.post", "3t%d" % i, rev="3mpt000000200") for i in range(3)])
        eq(r.xp(ALICE), 0, "a bulk delete revokes every grant")
    finally:
        r.close()


@test
def relay_seq_orders_identity_and_account():
    r = Run()
    try:
        r.feed(account(BOB, False, "deactivated", t=100, seq=10), account(BOB, True, t=110, seq=11),
               identity(BOB, "bob.new", t=120, seq=12))
        # Sent again after a failover, stamped with a later time_us: dropped by seq.
        r.feed(account(BOB, False, "deactivated", t=500, seq=10), identity(BOB, "bob.old", t=510, seq=9))
        eq(r.acct(BOB)["status"], "active", "re-sent deactivation dropped")
        eq(r.acct(BOB)["handle"], "bob.new", "older identity dropped")
        r.reopen()
        r.feed(account(BOB, False, "suspended", t=50, seq=13))
        eq(r.acct(BOB)["status"], "suspended", "a newer seq applies whatever its time_us (seq reloaded)")
        r.feed(account(BOB, True, t=40))
        eq(r.acct(BOB)["status"], "suspended", "without seq: ordered by time_us")
    finally:
        r.close()


# ------------------------------------------------------------------------------------------
# Rule 6: identity and account events

@test
def identity_and_account():
    r = Run()
    try:
        r.feed(identity(ALICE, "alice.bsky.social", t=100))
        eq(r.acct(ALICE)["handle"], "alice.bsky.social", "handle")
        r.feed(identity(ALICE, None, t=200))
        eq(r.acct(ALICE)["handle"], "alice.bsky.social", "identity without handle keeps it")
        r.feed(identity(ALICE, "old.bsky.social", t=150))
        eq(r.acct(ALICE)["handle"], "alice.bsky.social", "older identity ignored")
        r.feed(identity(ALICE, "new.bsky.social", t=200))
        eq(r.acct(ALICE)["handle"], "new.bsky.social", "equal time applies")
        eq(r.xp(ALICE), 0, "identity grants nothing")

        r.feed(account(BOB, False, "takendown", t=100))
        eq(r.acct(BOB)["status"], "takendown", "takendown")
        r.feed(account(BOB, True, t=90))
        eq(r.acct(BOB)["status"], "takendown", "older account event ignored")
        r.feed(account(BOB, True, t=110))
        eq(r.acct(BOB)["status"], "active", "restored")
        r.feed(account(BOB, False, t=120))
        eq(r.acct(BOB)["status"], "inactive", "inactive without status")
        r.feed(account(BOB, True, "deleted", t=130))
        eq(r.acct(BOB)["status"], "active", "active:true wins over a status")
        r.feed(account(BOB, "true", "suspended", t=140))
        eq(r.acct(BOB)["status"], "active", "a non-boolean active is a malformed event, ignored")
        r.feed(account(BOB, False, "suspended", t=140))
        eq(r.acct(BOB)["status"], "suspended", "suspended")
        # the two kinds keep separate clocks
        r.feed(identity(BOB, "bob.test", t=1))
        eq(r.acct(BOB)["handle"], "bob.test", "identity clock is per kind")
        # commits still count while an account is inactive (status is lifecycle, not XP)
        r.feed(like(BOB, "3l", post_uri(ALICE, "3a")))
        eq(r.xp(BOB), 10, "inactive account still earns")
        r.reopen()
        r.feed(account(BOB, True, t=139))
        eq(r.acct(BOB)["status"], "suspended", "account clock reloaded")
        r.feed(identity(ALICE, "stale.bsky.social", t=199))
        eq(r.acct(ALICE)["handle"], "new.bsky.social", "identity clock reloaded")
    finally:
        r.close()


# ------------------------------------------------------------------------------------------
# Rule 1 and 7: malformed lines, unknown kinds, which DIDs are accounts

@test
def malformed_lines():
    ok = {"did": ALICE, "time_us": 1, "kind": "commit",
          "commit": {"rev": "3a", "operation": "create", "collection": "app.bsky.feed.like", "rkey": "3l",
                     "record": {"subject": {"uri": post_uri(BOB, "3x")}}}}

    def variant(path, value, drop=False):
        ev = orjson.loads(orjson.dumps(ok))
        d = ev
        for k in path[:-1]:
            d = d[k]
        if drop:
            del d[path[-1]]
        else:
            d[path[-1]] = value
        return orjson.dumps(ev)

    bad = [
        b"{not json",
        b"[1,2,3]",
        b'"a string"',
        b"null",
        b"{\"did\":\"" + CAROL.encode() + b"\",\"time_us\":1,\"kind\":\"commit\"",  # truncated
        b"\xff\xfe{}",  # not UTF-8
        variant(["did"], None, drop=True),
        variant(["did"], 5),
        variant(["time_us"], "1"),
        variant(["time_us"], 1.5),
        variant(["time_us"], True),
        variant(["time_us"], None, drop=True),
        variant(["kind"], None, drop=True),
        variant(["kind"], 3),
        variant(["commit"], None, drop=True),
        variant(["commit"], "x"),
        variant(["commit", "rev"], None, drop=True),
        variant(["commit", "rev"], 12),
        variant(["commit", "operation"], "patch"),
        variant(["commit", "operation"], ["create"]),
        variant(["commit", "collection"], None, drop=True),
        variant(["commit", "rkey"], None),
        variant(["commit", "record"], None, drop=True),
        variant(["commit", "record"], "text"),
        variant(["commit", "record"], []),
        orjson.dumps({"did": ALICE, "time_us": 1, "kind": "identity"}),
        orjson.dumps({"did": ALICE, "time_us": 1, "kind": "identity", "identity": "x"}),
        orjson.dumps({"did": ALICE, "time_us": 1, "kind": "account", "account": None}),
    ]
    r = Run()
    try:
        r.feed(*bad)
        eq(r.pipe.malformed, len(bad), "malformed count")
        eq(r.pipe.events, len(bad), "events count")
        eq(r.pipe.export_rows(), [], "no account from malformed lines")
        # delete without record/cid is fine; a delete carrying a record is fine too
        r.feed(variant(["commit", "operation"], "delete"))
        eq(r.pipe.malformed, len(bad), "delete with a record is well-formed")
        r.feed(b"", b"\n", b"   \n")
        eq((r.pipe.events, r.pipe.malformed), (len(bad) + 1, len(bad)), "blank lines are ignored")
        # unknown kinds: skipped, not malformed, not an account
        r.feed(orjson.dumps({"did": CAROL, "time_us": 1, "kind": "sync", "sync": {}}))
        eq(r.pipe.malformed, len(bad), "unknown kind not malformed")
        eq(r.acct(CAROL), None, "unknown kind does not make an account")
        # extra fields and a top-level cursor are fine
        ev = orjson.loads(orjson.dumps(ok))
        ev["cursor"] = 5
        ev["commit"]["rev"] = "3b"
        ev["commit"]["rkey"] = "3m"
        r.feed(orjson.dumps(ev))
        eq(r.xp(ALICE), 10, "extra fields tolerated")
        # an account is created by any well-formed event, even one that grants nothing
        r.feed(variant(["did"], BOB))
        eq(r.xp(BOB), 0, "bob's like of his own post is a self-like")
        r.feed(orjson.dumps({"did": CAROL, "time_us": 1, "kind": "account", "account": {}}))
        eq(r.acct(CAROL), None, "account body without active is malformed")
    finally:
        r.close()


# ------------------------------------------------------------------------------------------
# Replays

def sample_capture():
    _REV.clear()
    lines = [
        identity(ALICE, "alice.bsky.social"),
        post(BOB, "3b1", images("x")),
        post(BOB, "3b2", video()),
        like(ALICE, "3a1", post_uri(BOB, "3b1")),
        repost(ALICE, "3a2", post_uri(BOB, "3b1")),
        repost(CAROL, "3c1", post_uri(BOB, "3b2")),
        like(BOB, "3b3", post_uri(BOB, "3b1")),
        post(BOB, "3b2", video("described now"), op="update"),
        account(CAROL, False, "deactivated"),
        delete(ALICE, "app.bsky.feed.like", "3a1"),
        like(ALICE, "3a3", post_uri(CAROL, "3zz")),
        delete(BOB, "app.bsky.feed.post", "3b1"),
        repost(CAROL, "3c2", post_uri(BOB, "3b1")),
        account(CAROL, True),
    ]
    lines += [like(ALICE, "3x%03d" % i, post_uri(BOB, "3y%d" % i)) for i in range(60)]
    return lines


def export_of(run):
    return [orjson.dumps(row) for row in run.pipe.export_rows()]


@test
def expected_sample_state():
    r = Run()
    try:
        r.feed(*sample_capture())
        got = {row["did"]: (row["xp"], row["level"], row["handle"], row["status"]) for row in r.pipe.export_rows()}
        # alice: like 10, repost of a 70 post 70, delete like -10, like 10, 60 likes 600
        # bob: 70 + 60 (video w/o alt), self-like 0, update 60 -> 70 (+10), delete 3b1 (-70)
        # carol: repost of a 60 post 60, repost of deleted post 50
        eq(got, {ALICE: (680, 4, "alice.bsky.social", "active"), BOB: (70, 2, None, "active"),
                 CAROL: (110, 2, None, "active")}, "state")
    finally:
        r.close()


@test
def replay_twice_and_prefixes():
    lines = sample_capture()
    once = Run()
    try:
        once.feed(*lines)
        want = export_of(once)
    finally:
        once.close()
    for batch in (1, 3, 10_000):
        r = Run(batch=batch)
        try:
            r.feed(*lines)
            eq(export_of(r), want, "batch %d" % batch)
            r.reopen().feed(*lines)
            eq(export_of(r), want, "replay twice, batch %d" % batch)
            r.reopen().feed(*lines[:9])
            eq(export_of(r), want, "prefix again, batch %d" % batch)
            r.reopen()
            eq(export_of(r), want, "reloaded, batch %d" % batch)
        finally:
            r.close()
    # a crash-like stop after a prefix, then the whole capture from the start
    r = Run(batch=4)
    try:
        r.feed(*lines[:7])
        r.reopen().feed(*lines)
        eq(export_of(r), want, "resume from the start")
    finally:
        r.close()


# ------------------------------------------------------------------------------------------
# The command-line tools end to end on a generated capture

@test
def generated_capture_end_to_end():
    tmp = tempfile.mkdtemp(prefix="reftest-gen-")
    try:
        cap = os.path.join(tmp, "c.jsonl")
        gen = [sys.executable, os.path.join(HERE, "gen_capture.py"), "--events", "6000", "--seed", "7"]
        subprocess.run(gen + ["--out", cap], check=True)
        again = subprocess.run(gen + ["--out", "-"], check=True, capture_output=True).stdout
        with open(cap, "rb") as f:
            data = f.read()
        eq(data == again, True, "same seed, same bytes")
        lines = data.split(b"\n")
        eq(lines[-1], b"", "trailing newline")
        lines = lines[:-1]
        eq(len(lines), 6000, "line count")
        check(b"\\u0026" in data and b"&" not in data, "Go-style escaping of &")
        check(b"\\u003c" in data and b"<" not in data and b">" not in data, "Go-style escaping of < >")
        check(b"\\ud83" in data, "some surrogate-pair escapes")
        check("😍".encode() in data or "🔥".encode() in data, "raw UTF-8 emoji too")
        check(len(set(lines)) < len(lines), "replayed lines present")
        order = {"commit": ["did", "time_us", "kind", "commit"], "identity": ["did", "time_us", "kind", "identity"],
                 "account": ["did", "time_us", "kind", "account"]}
        kinds = set()
        for line in lines:
            ev = orjson.loads(line)
            eq(list(ev), order[ev["kind"]], "envelope key order")
            kinds.add(ev["kind"])
            if ev["kind"] == "commit":
                c = ev["commit"]
                want = ["rev", "operation", "collection", "rkey"] + (["record", "cid"] if c["operation"] != "delete" else [])
                eq(list(c), want, "commit key order")
        eq(kinds, {"commit", "identity", "account"}, "kinds")

        db = os.path.join(tmp, "r.sqlite")
        ref = [sys.executable, os.path.join(HERE, "reference.py"), cap, "--db", db]
        out1 = orjson.loads(subprocess.run(ref + ["--export", os.path.join(tmp, "e1.jsonl")], check=True,
                                           capture_output=True).stdout)
        out2 = orjson.loads(subprocess.run(ref + ["--export", os.path.join(tmp, "e2.jsonl"), "--batch", "333"],
                                           check=True, capture_output=True).stdout)
        for k in ("events", "malformed", "accounts", "xp_granted", "milestones"):
            check(k in out1, "summary key " + k)
        eq(out1["malformed"], 0, "generated lines are well-formed")
        eq((out2["accounts"], out2["xp_granted"], out2["milestones"]),
           (out1["accounts"], out1["xp_granted"], out1["milestones"]), "second run summary")
        with open(os.path.join(tmp, "e1.jsonl"), "rb") as a, open(os.path.join(tmp, "e2.jsonl"), "rb") as b:
            e1, e2 = a.read(), b.read()
        eq(e1 == e2, True, "replaying the capture twice gives the same export")
        # fresh db with a small batch: same as the first run
        db2 = os.path.join(tmp, "r2.sqlite")
        subprocess.run([sys.executable, os.path.join(HERE, "reference.py"), cap, "--db", db2, "--batch", "1000",
                        "--export", os.path.join(tmp, "e3.jsonl")], check=True, capture_output=True)
        with open(os.path.join(tmp, "e3.jsonl"), "rb") as c:
            eq(c.read() == e1, True, "batch size does not change the result")
        base = subprocess.run([sys.executable, os.path.join(HERE, "decode_baseline.py"), cap, "--repeat", "1"],
                              check=True, capture_output=True).stdout
        eq(orjson.loads(base)["lines"], 6000, "decode baseline line count")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    failed = 0
    for fn in TESTS:
        try:
            fn()
            print("ok   ", fn.__name__)
        except Exception:
            failed += 1
            print("FAIL ", fn.__name__)
            traceback.print_exc()
    print("%d passed, %d failed" % (len(TESTS) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

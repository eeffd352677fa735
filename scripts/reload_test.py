#!/usr/bin/env python3
"""Hot reload of rule packs while `bothost run` is live (docs/rules.md).

A Jetstream-compatible server on loopback (`bothost serve-jetstream --wall-clock`) plays
posts in three phases a few seconds apart. Between the phases the pack file is replaced:
first by a broken pack and a SIGHUP (the host must report it with file:line:col and keep
the first version running), then by a valid second version without a signal (the host
must notice the file change and swap it in). The ledger then says which version granted
each post.
"""
import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

from host_wait import wait_for

ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def tid(micros, clock=0):
    value = (micros << 10) | clock
    return "".join(ALPHABET[(value >> (60 - 5 * i)) & 31] for i in range(13))


PACK = """pack: reload
version: {version}
rules:
  - id: post
    on: app.bsky.feed.post
    xp: "{xp}"
"""
BROKEN = """pack: reload
version: 3
rules:
  - id: post
    on: app.bsky.feed.post
    xp: "len(record.textt)"
"""


def granted(db):
    """Grants of the test pack the host has committed so far (0 before its schema exists)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            return con.execute("""SELECT count(*) FROM ledger l JOIN rules r ON r.id = l.rule_id
                                  WHERE r.plugin = 'reload'""").fetchone()[0]
    except sqlite3.Error:
        return 0


def read(path):
    with open(path) as f:
        return f.read()


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/bothost"
    passed = failed = 0

    def check(name, ok, detail=""):
        nonlocal passed, failed
        print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
        passed, failed = passed + ok, failed + (not ok)

    did = "did:plc:reload000000000000000000"
    with tempfile.TemporaryDirectory() as tmp:
        pack = os.path.join(tmp, "pack.yaml")
        with open(pack, "w") as f:
            f.write(PACK.format(version=1, xp=10))
        start = int(time.time() * 1_000_000) + 4_000_000  # phase A starts in 4 s
        phases = {"A": start, "B": start + 6_000_000, "C": start + 12_000_000}
        capture = os.path.join(tmp, "capture.jsonl")
        n = 0
        with open(capture, "w") as f:
            for phase, at in phases.items():
                for i in range(5):
                    n += 1
                    t = at + i * 50_000
                    f.write('{"did":"%s","time_us":%d,"kind":"commit","commit":{"rev":"%s","operation":"create",'
                            '"collection":"app.bsky.feed.post","rkey":"%s","record":{"$type":"app.bsky.feed.post",'
                            '"text":"%s %d","createdAt":"2026-01-01T00:00:00Z"},"cid":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}}\n'
                            % (did, t, tid(t), tid(t, 1), phase, i))
        server = subprocess.Popen([binary, "serve-jetstream", capture, "--port", "0", "--wall-clock", "--log-level", "error"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            port = int(re.search(r":(\d+)", server.stdout.readline()).group(1))
            db = os.path.join(tmp, "live.sqlite")
            log = open(os.path.join(tmp, "run.log"), "w+")
            host = subprocess.Popen([binary, "run", "--jetstream", f"ws://127.0.0.1:{port}/subscribe", "--db", db,
                                     "--pack", pack, "--dry-run", "--exit-idle", "8", "--log-level", "notice"],
                                    stdout=subprocess.DEVNULL, stderr=log)
            # The steps wait for the host, not for fixed times (a host that starts slowly on a
            # loaded machine would die of SIGHUP's default action): phase A granted, so the
            # host has been running its services for a while, SIGHUP's handler among them.
            if not wait_for(host, lambda: granted(db) >= 5, timeout=60, poll=0.05):
                print(f"note: phase A not granted within 60 s ({granted(db)} grants)")
            # Between A and B: a broken version, announced with SIGHUP.
            with open(pack, "w") as f:
                f.write(BROKEN)
            host.send_signal(signal.SIGHUP)
            if not wait_for(host, lambda: "rule pack refused" in read(log.name), timeout=60, poll=0.05):
                print("note: no refusal logged within 60 s of the SIGHUP")
            # Between B and C: a valid second version, noticed from the file alone.
            if not wait_for(host, lambda: granted(db) >= 10, timeout=60, poll=0.05):
                print(f"note: phase B not granted within 60 s ({granted(db)} grants)")
            with open(pack, "w") as f:
                f.write(PACK.format(version=2, xp=20))
            code = host.wait(timeout=60)
            log.seek(0)
            stderr = log.read()
        finally:
            server.terminate()
            server.wait()
        check("run ends cleanly", code == 0, f"exit {code}: {stderr[-2000:]}")
        check("the broken pack is refused with file:line:col and the old version kept",
              re.search(r"rule pack refused; the previous version keeps running", stderr) is not None
              and re.search(re.escape(pack) + r":6:\d+: error: record has no field 'textt'", stderr) is not None,
              stderr[-2000:])
        check("the second version is reported as reloaded", "rule packs reloaded: live pack reload 1+" in stderr, stderr[-2000:])
        con = sqlite3.connect(db)
        rows = con.execute("""SELECT r.version, count(*), sum(l.amount) FROM ledger l JOIN rules r ON r.id = l.rule_id
                              WHERE r.plugin = 'reload' GROUP BY r.version ORDER BY r.version""").fetchall()
        versions = [(v.split("+")[0], c, s) for v, c, s in rows]
        check("phases A and B were granted by version 1, phase C by version 2",
              versions == [("1", 10, 100), ("2", 5, 100)], str(rows))
        xp = con.execute("SELECT t.xp FROM totals t JOIN accounts a ON a.id = t.account_id WHERE a.did = ?", (did,)).fetchone()
        check("the account's XP is 10 x 10 + 5 x 20", xp == (200,), str(xp))
        check("integrity", con.execute("PRAGMA integrity_check").fetchone() == ("ok",))
    print(f"reload test: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

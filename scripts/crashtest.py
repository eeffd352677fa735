#!/usr/bin/env python3
"""Crash safety: kill `bothost replay` and `bothost run` with SIGKILL at random points,
restart them on the same database, and require exactly the state of one uninterrupted
run, a clean `PRAGMA integrity_check`, and no duplicated outbox key.

    python3 scripts/crashtest.py BOTHOST_BINARY [--kills 20] [--events 200000] [--seed 1]

Prints one line per scenario and a final 'crashtest: N passed, N failed'.
"""
import argparse
import contextlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

from host_wait import wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "examples", "config", "demo.yaml")  # the generator's bot: announcements exist


def export(binary, db):
    out = subprocess.run([binary, "export", "accounts", "--db", db], check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def outbox(db):
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key, state FROM outbox ORDER BY key").fetchall()
        keys = [r[0] for r in rows]
        return rows, len(keys) == len(set(keys))


def integrity(db):
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def kill_loop(start, kills, rng, span):
    """Starts the process `kills` times and SIGKILLs each at a random moment within `span`
    seconds (the length of an uninterrupted run, so most kills land mid-work)."""
    killed = attempts = 0
    while killed < kills and attempts < kills * 4:
        attempts += 1
        proc = start()
        time.sleep(rng.uniform(0.02, span * 0.9))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
    return killed


def has_line(path, needle):
    with open(path) as f:
        return any(needle in line for line in f)


def decisions(db):
    """Outbox keys and ranking changes: both must not depend on where the kills fell."""
    with sqlite3.connect(db) as conn:
        keys = [r[0] for r in conn.execute("SELECT key FROM outbox ORDER BY key")]
        ranks = conn.execute("SELECT time_us, window, threshold, account_id, kind FROM rank_events ORDER BY 1, 2, 3, 4, 5").fetchall()
        return keys, ranks


def compare(name, expected, got, db, reference_db=None):
    ok_state = expected == got
    if reference_db is not None and ok_state:
        ok_state = decisions(db) == decisions(reference_db)
        if not ok_state:
            print("      outbox keys or rank events differ from the uninterrupted run")
    rows, unique = outbox(db)
    check = integrity(db)
    ok = ok_state and unique and check == "ok"
    same = " (and the same outbox keys and rank events)" if reference_db is not None and ok_state else ""
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {len(got)} accounts {'equal' if ok_state else 'DIFFER'}{same}, "
          f"integrity_check={check}, outbox keys unique={unique} ({len(rows)} rows)")
    if not ok_state:
        e = {a['did']: a for a in expected}
        g = {a['did']: a for a in got}
        diffs = [d for d in set(e) | set(g) if e.get(d) != g.get(d)]
        for d in sorted(diffs)[:5]:
            print("     ", d, e.get(d), g.get(d))
    return ok


def multi_op_capture(path, rng, commits=2500):
    """Every commit has several operations, one event each with the commit's rev: threads
    posted at once and bulk deletes of earlier records (some never created)."""
    users = [f"did:plc:multiop{n:019d}" for n in range(40)]
    records = {u: [] for u in users}
    t = 1_760_000_000_000_000
    rev = 0

    def tid(n):
        chars = "234567abcdefghijklmnopqrstuvwxyz"
        value = ((1_760_000_000_000_000 + n * 1000) << 10)
        return "".join(chars[(value >> (60 - 5 * i)) & 31] for i in range(13))

    with open(path, "w") as out:
        for _ in range(commits):
            user = rng.choice(users)
            rev += 1
            commit_rev = tid(rev)
            if records[user] and rng.random() < 0.35:
                doomed = [records[user].pop(rng.randrange(len(records[user]))) for _ in range(min(len(records[user]), rng.randint(2, 4)))]
                ops = [("delete", c, k) for c, k in doomed] + [("delete", "app.bsky.feed.like", "3zzzzzzzzzzzz")]
            else:
                ops = []
                for _ in range(rng.randint(2, 4)):
                    rev += 1
                    ops.append(("create", "app.bsky.feed.post", tid(rev)))
                    records[user].append(("app.bsky.feed.post", tid(rev)))
            for op, collection, rkey in ops:
                t += 1000
                commit = {"rev": commit_rev, "operation": op, "collection": collection, "rkey": rkey}
                if op == "create":
                    commit["record"] = {"$type": collection, "createdAt": "2026-01-01T00:00:00Z", "text": "thread"}
                    commit["cid"] = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
                out.write(json.dumps({"did": user, "time_us": t, "kind": "commit", "commit": commit}) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    rng = random.Random(args.seed)
    py = sys.executable
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        capture = os.path.join(tmp, "capture.jsonl")
        subprocess.run([py, os.path.join(ROOT, "bench", "gen_capture.py"), "--events", str(args.events),
                        "--seed", str(args.seed), "--out", capture], check=True)
        # A second capture full of malformed lines (every 7th line broken in some way).
        noisy = os.path.join(tmp, "noisy.jsonl")
        breakers = [lambda l: l[: len(l) // 2], lambda l: l.replace('"time_us":', '"time_us":"x'),
                    lambda l: "not json at all", lambda l: l.replace('"did"', '"dxd"'), lambda l: l + "}"]
        with open(capture) as src, open(noisy, "w") as dst:
            for i, line in enumerate(src):
                line = line.rstrip("\n")
                dst.write((breakers[i % len(breakers)](line) if i % 7 == 3 else line) + "\n")

        # Multi-operation commits split by the kills: small odd batches end between two
        # operations of one commit, and a restart replays the whole commit again.
        multi = os.path.join(tmp, "multi.jsonl")
        multi_op_capture(multi, rng)
        for name, path, batch in (("replay", capture, "20000"), ("replay, malformed lines", noisy, "20000"),
                                  ("replay, multi-operation commits split across batches", multi, "3")):
            reference_db = os.path.join(tmp, f"ref-{len(name)}.sqlite")
            began = time.monotonic()
            subprocess.run([binary, "replay", path, "--db", reference_db, "--config", CONFIG, "--quiet", "--format", "json",
                            "--workers", "1"], check=True, capture_output=True)
            span = time.monotonic() - began
            expected = export(binary, reference_db)
            db = os.path.join(tmp, f"crash-{len(name)}.sqlite")
            # The killed runs keep only one minute of record keys' grants in memory, so
            # restarts also reload just that window and read older grants from the store.
            cold = os.path.join(tmp, "cold.yaml")
            with open(CONFIG) as src, open(cold, "w") as dst:
                dst.write(src.read() + "\nstore:\n  hot_grants_minutes: 1\n")
            cmd = [binary, "replay", path, "--db", db, "--config", cold, "--quiet", "--format", "json", "--batch-size", batch]
            # Each start picks its number of decode workers: the state must not depend on it.
            killed = kill_loop(lambda: subprocess.Popen(cmd + ["--workers", str(rng.choice([1, 2, 4]))],
                                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                               args.kills, rng, span)
            subprocess.run(cmd + ["--workers", "3"], check=True, capture_output=True)
            ok = compare(f"{name}: {killed} SIGKILLs (1, 2 or 4 decode workers per start) then a restart to the end", expected, export(binary, db), db, reference_db) and killed >= args.kills
            passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
            if name == "replay":
                replay_expected, replay_db = expected, reference_db

        # bothost run against the replay server: SIGKILL at random points, then run to idle.
        server = subprocess.Popen([binary, "serve-jetstream", capture, "--port", "0", "--log-level", "error"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            port = int(re.search(r":(\d+)", server.stdout.readline()).group(1))
            db = os.path.join(tmp, "live.sqlite")
            live = [binary, "run", "--jetstream", f"ws://127.0.0.1:{port}/subscribe", "--db", db, "--config", CONFIG,
                    "--dry-run", "--exit-idle", "2", "--format", "json"]
            cmd = live + ["--log-level", "error"]
            killed = kill_loop(lambda: subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                               args.kills, rng, max(0.5, span * 3))
            # SIGTERM mid-run: a graceful stop commits what it has. The signal goes out when the
            # host says so, not after a fixed time (a host that starts slowly on a loaded
            # machine would die of the default action): once it logs "connecting" (from inside
            # its service group, so its SIGTERM handler is in place) and has committed a batch.
            log_path = os.path.join(tmp, "sigterm-run.log")
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as watch:
                commits = watch.execute("PRAGMA data_version").fetchone()[0]
                with open(log_path, "w") as log:
                    proc = subprocess.Popen(live + ["--log-level", "info"],
                                            stdout=subprocess.PIPE, stderr=log, text=True)
                connected = wait_for(proc, lambda: has_line(log_path, "connecting"), timeout=60)
                committed = connected and wait_for(
                    proc, lambda: watch.execute("PRAGMA data_version").fetchone()[0] != commits, timeout=60)
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=60)
            if not committed:
                out = f"no {'commit' if connected else 'connecting line'} from the host within 60 s; " + out
            graceful = proc.returncode == 0 and '"exit":"shutdown"' in out
            print(f"{'ok  ' if graceful else 'FAIL'} run: SIGTERM mid-run exits 0 after committing ({out.strip()[:120]})")
            passed, failed = (passed + 1, failed) if graceful else (passed, failed + 1)
            subprocess.run(cmd, check=True, capture_output=True, timeout=600)
            ok = compare(f"run: {killed} SIGKILLs, a SIGTERM, then a run to idle (vs replay)", replay_expected, export(binary, db), db, replay_db) and killed >= args.kills
            passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"crashtest: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

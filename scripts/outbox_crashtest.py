#!/usr/bin/env python3
"""Exactly-once announcements against a real PDS that fails on its own schedule.

Starts the arroba PDS harness (Tests/xrpc-peer/pds.py) with --chaos (5xx, 429s,
stalls, expired tokens, and writes applied but answered 502) and a small write budget,
replays a fresh capture in which accounts opt in, opt out and never opt in, kills
`bothost replay` with SIGKILL at random points and restarts it on the same database
until a run completes, then counts on the server:

  * every sent announcement exists on the server exactly once, and every post on the
    server is one the outbox recorded (a duplicate would be an unrecorded post);
  * exactly one announcement per (account, milestone) that was due;
  * no post mentions or replies to an account that was not opted in when it was queued;
  * every facet is valid (byte range inside the text, on the mention's text);
  * the server's write budget was never overrun;
  * `bothost outbox list --format json` accounts for every queued message, none pending.

    python3 scripts/outbox_crashtest.py BOTHOST_BINARY [--kills 6] [--events 30000] [--seed 1]

Prints one line per check and 'outbox-crashtest: N passed, N failed'.
"""
import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(ROOT, ".venv", "bin", "python")


def start_pds(args):
    proc = subprocess.Popen([PY, os.path.join(ROOT, "Tests", "xrpc-peer", "pds.py"), "--port", "0"] + args,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    accounts, port = [], None
    while port is None:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("pds.py exited before READY")
        if line.startswith("ACCOUNT "):
            fields = dict(kv.split("=", 1) for kv in line.split()[1:])
            accounts.append(fields)
        elif line.startswith("READY port="):
            port = int(line.strip().split("=")[1])
    return proc, port, accounts


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
        return json.load(r)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--kills", type=int, default=6)
    ap.add_argument("--events", type=int, default=120000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    results = []

    def check(name, ok, detail=""):
        results.append(ok)
        print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok else ': ' + str(detail)}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        # 30 points per 2 s (ten posts): most posts wait for a window, as a busy bot would.
        pds, port, accounts = start_pds(["--chaos", str(args.seed), "--write-limit", "30", "--write-window", "2"])
        try:
            bot = accounts[0]["did"]
            capture = os.path.join(tmp, "capture.jsonl")
            start = int(time.time() * 1e6) - 3_600_000_000  # an hour ago: within the 24 h age limit
            subprocess.run([PY, os.path.join(ROOT, "bench", "gen_capture.py"), "--events", str(args.events),
                            "--seed", str(args.seed), "--out", capture, "--bot-did", bot, "--accounts", "120",
                            "--start-us", str(start), "--consent-rate", "0.01"], check=True)
            db = os.path.join(tmp, "bot.sqlite")
            env = dict(os.environ, BOTHOST_PDS=f"http://127.0.0.1:{port}", BOTHOST_IDENTIFIER="bot.test",
                       BOTHOST_APP_PASSWORD="bot-pass")
            cmd = [args.binary, "replay", capture, "--db", db, "--quiet", "--batch-size", "2000"]
            kills = 0
            for _ in range(args.kills):
                proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(rng.uniform(0.3, 2.5))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
                proc.wait()
            final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
            check(f"replay completes after {kills} SIGKILLs", final.returncode == 0, final.stderr[-500:])

            listed = subprocess.run([args.binary, "outbox", "list", "--db", db, "--format", "json"],
                                    capture_output=True, text=True, check=True).stdout
            messages = [json.loads(line) for line in listed.splitlines() if line.strip()]
            with sqlite3.connect(db) as conn:
                queued = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
                # Who was opted in (opted_in or no_ping) at each consent change, per DID.
                log = conn.execute("""SELECT a.did, c.consent, c.time_us FROM consent_log c
                                      JOIN accounts a ON a.id = c.account_id ORDER BY c.id""").fetchall()
                integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            check("outbox list accounts for every queued message", len(messages) == queued and queued > 0,
                  f"{len(messages)} listed, {queued} queued")
            check("nothing left pending", all(m["state"] != "pending" for m in messages),
                  [m for m in messages if m["state"] == "pending"][:3])
            check("integrity_check ok", integrity == "ok", integrity)
            ever_opted_in = {did for did, consent, _ in log if consent in ("opted_in", "no_ping")}

            def opted_in_at(did, time_us):
                state = None
                for who, consent, t in log:
                    if who == did and t <= time_us:
                        state = consent
                return state in ("opted_in", "no_ping")

            posts = get(port, f"/_control/records?did={bot}&collection=app.bsky.feed.post")
            by_uri = {p["uri"]: p for p in posts}
            sent = [m for m in messages if m["state"] == "sent"]
            sent_uris = {m["uri"] for m in sent}
            check("every sent message is on the server", all(u in by_uri for u in sent_uris),
                  [u for u in sent_uris if u not in by_uri][:3])
            by_rkey = {m["rkey"]: m for m in messages if m.get("rkey")}
            unrecorded = [(u, by_rkey.get(u.rsplit("/", 1)[-1], {})) for u in set(by_uri) - sent_uris]
            check("every post on the server was recorded once (no duplicates)", set(by_uri) == sent_uris,
                  f"{len(by_uri)} posts, {len(sent_uris)} recorded; not recorded as sent: "
                  + "; ".join(f"{u} (row {m.get('id')}: {m.get('kind')} {m.get('state')}, {m.get('last_error')})" for u, m in unrecorded[:3]))
            milestones = [m for m in messages if m["kind"] == "milestone"]
            pairs = [(m["did"], m["level"]) for m in milestones]
            check("one outbox message per (account, milestone)", len(pairs) == len(set(pairs)))
            announced = [m for m in milestones if m["state"] == "sent"]
            check("announcements were posted", len(announced) > 0, "none sent")
            check("announcements only for accounts opted in when the milestone was reached",
                  all(opted_in_at(m["did"], m["created_us"]) for m in announced),
                  [m["key"] for m in announced if not opted_in_at(m["did"], m["created_us"])][:3])

            bad_targets, bad_facets = [], []
            for post in posts:
                value = post["value"]
                text = value["text"].encode()
                for facet in value.get("facets") or []:
                    start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
                    if not (0 <= start < end <= len(text)):
                        bad_facets.append(post["uri"])
                        continue
                    for feature in facet["features"]:
                        if feature["$type"] == "app.bsky.richtext.facet#mention":
                            if feature["did"] not in ever_opted_in:
                                bad_targets.append(("mention", feature["did"]))
                            if not text[start:end].startswith(b"@"):
                                bad_facets.append(post["uri"])
                reply = value.get("reply")
                if reply:
                    for ref in (reply["parent"], reply["root"]):
                        author = ref["uri"].split("/")[2]
                        if author != bot and author not in ever_opted_in:
                            bad_targets.append(("reply", ref["uri"]))
            check("no post mentions or replies to an account that did not opt in", not bad_targets, bad_targets[:3])
            check("every facet is valid", not bad_facets, bad_facets[:3])
            # Secrets: a password file others can read is refused; the password never shows.
            pw = os.path.join(tmp, "app-password")
            with open(pw, "w") as f:
                f.write("bot-pass\n")
            os.chmod(pw, 0o644)
            config = os.path.join(tmp, "bot.yaml")
            with open(config, "w") as f:
                f.write(f"bot:\n  pds: http://127.0.0.1:{port}\n  identifier: bot.test\n  app_password_file: {pw}\n"
                        "  declare_automated: true\n")
            no_env = {k: v for k, v in os.environ.items() if not k.startswith("BOTHOST_")}
            small = os.path.join(tmp, "small.jsonl")
            with open(capture) as src, open(small, "w") as dst:
                dst.writelines(line for _, line in zip(range(200), src))
            loose = subprocess.run([args.binary, "replay", small, "--db", os.path.join(tmp, "s.sqlite"), "--config", config, "--quiet"],
                                   env=no_env, capture_output=True, text=True)
            check("a password file readable by others is refused", loose.returncode != 0 and "chmod 600" in loose.stderr,
                  loose.stderr[-300:])
            os.chmod(pw, 0o600)
            tight = subprocess.run([args.binary, "replay", small, "--db", os.path.join(tmp, "s.sqlite"), "--config", config,
                                    "--format", "json"], env=no_env, capture_output=True, text=True)
            check("a 0600 password file logs in; the password never appears in output",
                  tight.returncode == 0 and "bot-pass" not in tight.stdout + tight.stderr, tight.stderr[-300:])

            # Read from storage (the XRPC route is subject to the chaos schedule).
            profiles = get(port, f"/_control/records?did={bot}&collection=app.bsky.actor.profile")
            labels = [v.get("val") for p in profiles for v in (p["value"].get("labels") or {}).get("values", [])]
            check("the bot's profile declares it automated (bot self-label)", "bot" in labels, profiles)

            stats = get(port, "/_control/stats")
            check("write budget never overrun", stats.get("overruns", 0) == 0, stats.get("overrun_log"))
            print(f"  ({len(posts)} posts, {len(announced)} announcements, {stats.get('injected')} injected faults, "
                  f"{stats.get('logins')} logins, {kills} kills)")
        finally:
            pds.kill()
            pds.wait()
    passed = sum(results)
    print(f"outbox-crashtest: {passed} passed, {len(results) - passed} failed")
    sys.exit(0 if passed == len(results) else 1)


if __name__ == "__main__":
    main()

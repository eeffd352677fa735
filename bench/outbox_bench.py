#!/usr/bin/env python3
"""Outbox figures for `make bench`, against the arroba PDS harness on loopback.

1. posts/s: `bothost outbox dispatch` posting N pending announcements (each a post
   with a mention facet), next to the atproto Python SDK posting the same N posts
   with its TextBuilder (the baseline, measured in the same run against the same
   server). The server (Python, signing a repo commit per post) bounds both.
2. event->post latency: `bothost run` following `serve-jetstream --wall-clock` (each
   event sent when the wall clock reaches its time_us) of background traffic plus
   opted-in accounts that each reach level 5; latency = the post's time minus the
   event's time_us, p50/p99 over the announcements.

    .venv/bin/python bench/outbox_bench.py BOTHOST_BINARY [--posts 300] [--accounts 60]

Prints one JSON object.
"""
import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.path.join(ROOT, ".venv", "bin", "python")
BOT = "did:web:bot.test"


def start_pds():
    proc = subprocess.Popen([PY, os.path.join(ROOT, "Tests", "xrpc-peer", "pds.py"), "--port", "0",
                             "--write-limit", "10000000", "--write-window", "3600"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("pds.py exited before READY")
        if line.startswith("READY port="):
            return proc, int(line.strip().split("=")[1])


def tid(us, clock=0):
    alphabet = "234567abcdefghijklmnopqrstuvwxyz"
    v = (us << 10) | clock
    return "".join(alphabet[(v >> (60 - 5 * i)) & 31] for i in range(13))


def did_of(i):
    return "did:plc:bench" + f"{i:019d}"


def opted_in_account_lines(i, t, posts, gap_us):
    """An account's handle, its opt-in post, and more posts: (time_us, line) pairs."""
    did, out = did_of(i), []
    out.append((t, json.dumps({"did": did, "time_us": t, "kind": "identity",
                               "identity": {"did": did, "handle": f"bench{i}.test", "seq": 1, "time": "2026-01-01T00:00:00Z"}})))
    for k in range(posts):
        tt = t + 1 + k * gap_us
        text = "@bot opt in" if k == 0 else f"post {k}"
        record = {"$type": "app.bsky.feed.post", "createdAt": "2026-01-01T00:00:00Z", "text": text}
        if k == 0:
            record["facets"] = [{"index": {"byteStart": 0, "byteEnd": 4},
                                 "features": [{"$type": "app.bsky.richtext.facet#mention", "did": BOT}]}]
        out.append((tt, json.dumps({"did": did, "time_us": tt, "kind": "commit", "commit": {
            "rev": tid(tt), "operation": "create", "collection": "app.bsky.feed.post", "rkey": tid(tt, 1),
            "record": record, "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}})))
    return out


def python_sdk_posts(port, n):
    from atproto import Client, client_utils
    client = Client(base_url=f"http://127.0.0.1:{port}")
    client.login("bot.test", "bot-pass")
    start = time.perf_counter()
    for i in range(n):
        tb = client_utils.TextBuilder().mention(f"@sdk{i}.test", did_of(i)).text(" reached level 5!")
        client.send_post(tb)
    return n / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--posts", type=int, default=300)
    ap.add_argument("--accounts", type=int, default=60)
    args = ap.parse_args()
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "bench.yaml")
        with open(config, "w") as f:
            # 200 XP a post: the fourth post reaches level 5. No confirmations: only announcements.
            f.write(f"bot:\n  did: {BOT}\nleveling:\n  xp: {{post: 200}}\nconsent:\n  confirm_commands: false\nrankings:\n  enabled: false\n")
        pds, port = start_pds()
        env = dict(os.environ, BOTHOST_PDS=f"http://127.0.0.1:{port}", BOTHOST_IDENTIFIER="bot.test",
                   BOTHOST_APP_PASSWORD="bot-pass")
        try:
            # 1. posts/s: N pending announcements, then one dispatch.
            now = int(time.time() * 1e6)
            capture = os.path.join(tmp, "posts.jsonl")
            lines = []
            for i in range(args.posts):
                lines += opted_in_account_lines(i, now - 60_000_000 + i * 10, 4, 1)
            with open(capture, "w") as f:
                f.writelines(line + "\n" for _, line in sorted(lines))
            db = os.path.join(tmp, "posts.sqlite")
            subprocess.run([args.binary, "replay", capture, "--db", db, "--config", config, "--dry-run", "--quiet"],
                           check=True, capture_output=True)
            out = subprocess.run([args.binary, "outbox", "dispatch", "--db", db, "--config", config, "--format", "json"],
                                 check=True, capture_output=True, text=True, env=env).stdout
            ours = json.loads(out)
            result["bothost_posts"] = ours["sent"]
            result["bothost_posts_per_s"] = ours["posts_per_second"]
            result["sdk_posts_per_s"] = python_sdk_posts(port, args.posts)

            # 2. event->post latency in a live run.
            start = int(time.time() * 1e6) + 3_000_000
            background = os.path.join(tmp, "background.jsonl")
            subprocess.run([PY, os.path.join(ROOT, "bench", "gen_capture.py"), "--events", "12000", "--seed", "9",
                            "--out", background, "--bot-did", "", "--rate", "800", "--start-us", str(start)],
                           check=True, capture_output=True)
            timed = []
            with open(background) as f:
                for line in f:
                    timed.append((json.loads(line)["time_us"], line.rstrip("\n")))
            for i in range(args.accounts):
                # Accounts start every 200 ms; each posts 4 times, 500 ms apart.
                timed += opted_in_account_lines(10_000 + i, start + 500_000 + i * 200_000, 4, 500_000)
            live = os.path.join(tmp, "live.jsonl")
            with open(live, "w") as f:
                f.writelines(line + "\n" for _, line in sorted(timed, key=lambda x: x[0]))
            serve = subprocess.Popen([args.binary, "serve-jetstream", live, "--port", "0", "--wall-clock", "--log-level", "error"],
                                     stdout=subprocess.PIPE, text=True)
            jport = int(serve.stdout.readline().split("ws://")[1].split(":")[1].split()[0])
            livedb = os.path.join(tmp, "live.sqlite")
            subprocess.run([args.binary, "run", "--jetstream", f"ws://127.0.0.1:{jport}/subscribe", "--db", livedb,
                            "--config", config, "--exit-idle", "4", "--log-level", "error", "--format", "json"],
                           check=True, capture_output=True, env=env, timeout=300)
            serve.kill()
            with sqlite3.connect(livedb) as conn:
                rows = conn.execute("SELECT sent_us - created_us FROM outbox WHERE kind = 'milestone' AND state = 'sent'").fetchall()
                states = dict(conn.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
            lat = sorted(r[0] / 1000 for r in rows)
            result["latency_samples"] = len(lat)
            result["outbox_states"] = states
            if lat:
                result["latency_p50_ms"] = lat[len(lat) // 2]
                result["latency_p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        finally:
            pds.kill()
            pds.wait()
    print(json.dumps(result))


if __name__ == "__main__":
    main()

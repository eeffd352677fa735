#!/usr/bin/env python3
"""Hot reload of a WebAssembly plugin while `bothost run` is live (docs/plugins-wasm.md).

As scripts/reload_test.py does for packs: a Jetstream-compatible server on loopback plays
posts in three phases. The module named by the config (a copy of post_xp.wasm: 50 XP per
text post) is replaced between the phases: first by bytes that are not a valid module and a
SIGHUP (the host must refuse it and keep the first module running), then by a valid second
module (hostile.wasm: 1 XP per ordinary post) without a signal (the host must notice the
file and swap it in). The ledger then says which module granted each post.

    python3 scripts/wasm_reload_test.py .build/debug/bothost
"""
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

from host_wait import wait_for
from reload_test import tid, read

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples", "wasm-plugin")


def granted(db):
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return con.execute("""SELECT count(*) FROM ledger l JOIN rules r ON r.id = l.rule_id
                                  WHERE r.plugin = 'wasm:post'""").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else ".build/debug/bothost"
    passed = failed = 0

    def check(name, ok, detail=""):
        nonlocal passed, failed
        print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
        passed, failed = passed + ok, failed + (not ok)

    subprocess.run(["make", "-s", "-C", EXAMPLES], check=True)
    did = "did:plc:wasmreload0000000000000000"
    with tempfile.TemporaryDirectory() as tmp:
        module = os.path.join(tmp, "post.wasm")
        shutil.copyfile(os.path.join(EXAMPLES, "post_xp.wasm"), module)
        config = os.path.join(tmp, "bothost.yaml")
        with open(config, "w") as f:
            f.write("plugins:\n  wasm:\n    - path: post.wasm\n")
        start = int(time.time() * 1_000_000) + 4_000_000
        phases = {"A": start, "B": start + 6_000_000, "C": start + 12_000_000}
        capture = os.path.join(tmp, "capture.jsonl")
        with open(capture, "w") as f:
            for phase, at in phases.items():
                for i in range(5):
                    t = at + i * 50_000
                    f.write('{"did":"%s","time_us":%d,"kind":"commit","commit":{"rev":"%s","operation":"create",'
                            '"collection":"app.bsky.feed.post","rkey":"%s","record":{"$type":"app.bsky.feed.post",'
                            '"text":"%s %d","createdAt":"2026-01-01T00:00:00Z"},"cid":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}}\n'
                            % (did, t, tid(t), tid(t, 1), phase, i))
        server = subprocess.Popen([binary, "serve-jetstream", capture, "--port", "0", "--wall-clock", "--log-level", "error"],
                                  stdout=subprocess.PIPE, text=True)
        code = None
        stderr = ""
        try:
            port = int(re.search(r":(\d+)", server.stdout.readline()).group(1))
            db = os.path.join(tmp, "live.sqlite")
            log = open(os.path.join(tmp, "run.log"), "w+")
            host = subprocess.Popen([binary, "run", "--jetstream", f"ws://127.0.0.1:{port}/subscribe", "--db", db,
                                     "--config", config, "--pack", os.path.join(EXAMPLES, "leveling-without-post.yaml"),
                                     "--dry-run", "--exit-idle", "8", "--log-level", "notice"],
                                    stdout=subprocess.DEVNULL, stderr=log)
            if not wait_for(host, lambda: granted(db) >= 5, timeout=60, poll=0.05):
                print(f"note: phase A not granted within 60 s ({granted(db)} grants)")
            with open(module, "wb") as f:  # not a valid module
                f.write(b"\x00asm\x01\x00\x00\x00\x7f")
            host.send_signal(signal.SIGHUP)
            if not wait_for(host, lambda: "WebAssembly plugin refused" in read(log.name), timeout=60, poll=0.05):
                print("note: no refusal logged within 60 s of the SIGHUP")
            if not wait_for(host, lambda: granted(db) >= 10, timeout=60, poll=0.05):
                print(f"note: phase B not granted within 60 s ({granted(db)} grants)")
            tmp_module = module + ".new"
            shutil.copyfile(os.path.join(EXAMPLES, "hostile.wasm"), tmp_module)
            os.replace(tmp_module, module)  # one atomic change, as a deploy would do it
            code = host.wait(timeout=60)
            log.seek(0)
            stderr = log.read()
        finally:
            server.terminate()
            server.wait()
        check("run ends cleanly", code == 0, f"exit {code}: {stderr[-2000:]}")
        check("the broken module is refused and the old one kept",
              re.search(r"WebAssembly plugin refused; the previous version keeps running:\s*\S*post\.wasm: error: not a valid WebAssembly module", stderr)
              is not None, stderr[-2000:])
        check("the second module is reported as reloaded", re.search(r"WebAssembly plugin reloaded: plugin wasm:post wasm\+[0-9a-f]{16} → wasm\+[0-9a-f]{16}", stderr)
              is not None, stderr[-2000:])
        con = sqlite3.connect(db)
        rows = con.execute("""SELECT r.rule, count(*), sum(l.amount) FROM ledger l JOIN rules r ON r.id = l.rule_id
                              WHERE r.plugin = 'wasm:post' GROUP BY r.rule, r.version ORDER BY min(l.id)""").fetchall()
        check("phases A and B were granted by the first module, phase C by the second",
              rows == [("post", 10, 500), ("any-post", 5, 5)], str(rows))
        xp = con.execute("SELECT t.xp FROM totals t JOIN accounts a ON a.id = t.account_id WHERE a.did = ?", (did,)).fetchone()
        check("the account's XP is 10 x 50 + 5 x 1", xp == (505,), str(xp))
        check("integrity", con.execute("PRAGMA integrity_check").fetchone() == ("ok",))
    print(f"wasm reload test: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The labeler's figures for `make bench` (docs/labels.md): on a copy of a replayed database with
every account opted in, the wall time of `bothost labeler sync` issuing a label to each account at
level 2 or more (best of 2, the labels cleared between), of a pass with nothing to do, and of a
pass negating half of them; against Python signing the same number of labels with libipld and
`cryptography` (bench/label_sign_baseline.py) in the same run. Prints one JSON object.

    python3 bench/labeler_bench.py BOTHOST DB WORKDIR
"""
import json
import os
import re
import sqlite3
import subprocess
import sys
import time


def sync(binary, config, db):
    start = time.perf_counter()
    out = subprocess.run([binary, "labeler", "sync", "--config", config, "--db", db], capture_output=True, text=True, check=True).stdout
    elapsed = time.perf_counter() - start
    issued, negated = map(int, re.search(r"labels: (\d+) issued, (\d+) negated", out).groups())
    return elapsed, issued, negated


def main():
    binary, source, work = sys.argv[1:4]
    db = os.path.join(work, "labels.sqlite")
    src = sqlite3.connect(source)
    dst = sqlite3.connect(db)
    src.backup(dst)
    src.close()
    dst.execute("UPDATE accounts SET consent = 'opted_in'")
    dst.commit()
    key = os.path.join(work, "labeler.key")
    if not os.path.exists(key):
        subprocess.run([binary, "labeler", "key", "--out", key], capture_output=True, check=True)
    config = os.path.join(work, "labeler.yaml")
    with open(config, "w") as f:
        f.write("bot:\n  did: did:plc:bothostbot0000000000000000\nleveling:\n  milestones: [2, 5, 10]\n"
                f"labeler:\n  key_file: {key}\n")
    firsts = []
    for _ in range(2):
        dst.execute("DELETE FROM labels")
        dst.execute("DELETE FROM label_current")
        dst.commit()
        firsts.append(sync(binary, config, db))
    first = min(firsts)
    idle = min(sync(binary, config, db)[0] for _ in range(2))
    dst.execute("UPDATE accounts SET consent = 'none' WHERE id % 2 = 0")
    dst.commit()
    negate = sync(binary, config, db)
    dst.close()
    count = first[1]
    baselines = []
    for _ in range(2):
        out = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "label_sign_baseline.py"), str(count)],
                             capture_output=True, text=True, check=True).stdout
        baselines.append(float(re.search(r"labels_per_s=(\d+)", out).group(1)))
    print(json.dumps({"labels": count, "first_pass_s": first[0], "idle_pass_s": idle, "negations": negate[2],
                      "negation_pass_s": negate[0], "python_sign_labels_per_s": max(baselines)}))


if __name__ == "__main__":
    main()

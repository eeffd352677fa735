#!/usr/bin/env python3
"""Raw SQLite limits on this machine, the ceiling any store design works under:
rows/s for 1M appends to a rowid table, and for 1M inserts into a WITHOUT ROWID
table keyed like BotHost's grants (time-ordered integer key first), WAL,
synchronous=NORMAL, batches of 50k rows, executemany (the fastest Python path).

    python3 bench/sqlite_limits.py DIR [--rows N]
"""
import argparse
import json
import os
import random
import sqlite3
import time


def run(path, create, insert, rows, make_row, batch=50_000):
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA cache_size=-131072")
    db.execute(create)
    data = [make_row(i) for i in range(rows)]
    start = time.perf_counter()
    for offset in range(0, rows, batch):
        db.execute("BEGIN IMMEDIATE")
        db.executemany(insert, data[offset:offset + batch])
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return rows / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    rnd = random.Random(1)
    accounts = 70_000
    append = run(os.path.join(args.dir, "append.sqlite"),
                 "CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, c INTEGER, k INTEGER, amount INTEGER, t INTEGER)",
                 "INSERT INTO t(a, c, k, amount, t) VALUES (?, ?, ?, ?, ?)", args.rows,
                 lambda i: (rnd.randrange(accounts), 1, i, 10, i))
    keyed = run(os.path.join(args.dir, "keyed.sqlite"),
                "CREATE TABLE g(k INTEGER, a INTEGER, c INTEGER, amount INTEGER, PRIMARY KEY(k, a, c)) WITHOUT ROWID",
                "INSERT INTO g VALUES (?, ?, ?, ?)", args.rows,
                lambda i: ((1 << 40) + i * 1024 + rnd.randrange(1024), rnd.randrange(accounts), 1, 10))
    print(json.dumps({"rowid_append_rows_per_s": append, "time_keyed_insert_rows_per_s": keyed}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Independent sliding-window leaderboards from the Python reference's database
(bench/reference.py), for scripts/difftest.sh: the window semantics of the rankings
issue computed straight from the definition, not from bothost's tables.

    python3 scripts/windows_reference.py REFERENCE_DB WINDOW AS_OF_US LIMIT

Score = sum of ledger amounts (grants, revocations, re-grades) whose event time_us is in
(as_of - window, as_of]; only accounts with status 'active' and score > 0; ties by DID.
Prints the JSON list in `bothost top --window ... --format json` shape.
"""
import json
import sqlite3
import sys

WINDOWS = {"hour": 3600, "day": 86400, "week": 7 * 86400, "month": 30 * 86400}


def main():
    db, window, as_of, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    start = as_of - WINDOWS[window] * 1_000_000
    conn = sqlite3.connect(db)
    scores = {}
    for did, amount in conn.execute("SELECT did, amount FROM ledger WHERE time_us > ? AND time_us <= ?", (start, as_of)):
        scores[did] = scores.get(did, 0) + amount
    accounts = {did: (xp, level, handle, status) for did, xp, level, handle, status in
                conn.execute("SELECT did, xp, level, handle, status FROM accounts")}
    ranked = sorted(((-score, did) for did, score in scores.items() if score > 0 and accounts[did][3] == "active"))
    out = []
    for rank, (neg, did) in enumerate(ranked[:limit], start=1):
        xp, level, handle, _ = accounts[did]
        out.append({"rank": rank, "did": did, "handle": handle, "score": -neg, "xp": xp, "level": level})
    print(json.dumps(out))


if __name__ == "__main__":
    main()

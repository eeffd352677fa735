#!/usr/bin/env python3
"""Compares `bothost export accounts` JSON-lines files account by account.

Used by scripts/difftest.sh: each --pair names two exports that must agree on every
account's xp, level, milestones, status and handle. Prints one line per pair and a
final 'N passed, N failed' line; exits non-zero on any difference.
"""
import argparse
import json
import sys

FIELDS = ("xp", "level", "milestones", "status", "handle")


def load(path):
    accounts = {}
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                record = json.loads(line)
                accounts[record["did"]] = record
    return accounts


def compare(name, left_path, right_path):
    left, right = load(left_path), load(right_path)
    problems = []
    for did in sorted(set(left) | set(right)):
        a, b = left.get(did), right.get(did)
        if a is None or b is None:
            problems.append(f"{did}: only in {'right' if a is None else 'left'}")
            continue
        for field in FIELDS:
            if a.get(field) != b.get(field):
                problems.append(f"{did}: {field} {a.get(field)!r} != {b.get(field)!r}")
    if problems:
        print(f"FAIL {name}: {len(problems)} differences in {len(left)} vs {len(right)} accounts")
        for p in problems[:15]:
            print("   ", p)
        return False
    total_xp = sum(a["xp"] for a in left.values())
    print(f"ok   {name}: {len(left)} accounts agree (total xp {total_xp})")
    return True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pair", nargs=3, action="append", metavar=("NAME", "LEFT", "RIGHT"), required=True)
    parser.add_argument("--summary", nargs=3, metavar=("FIRST", "SECOND", "REFERENCE"))
    parser.add_argument("--extra-passes", type=int, default=0, help="checks the calling script passed")
    parser.add_argument("--extra-failures", type=int, default=0, help="checks the calling script failed")
    args = parser.parse_args()
    passed, failed = args.extra_passes, args.extra_failures
    for name, left, right in args.pair:
        if compare(name, left, right):
            passed += 1
        else:
            failed += 1
    if args.summary:
        first, second, ref = (json.load(open(p)) for p in args.summary)
        # The second replay must see every commit as a duplicate and grant nothing.
        ok = second["xp_granted"] == 0 and second["xp_revoked"] == 0 and second["milestones"] == 0
        print(f"{'ok  ' if ok else 'FAIL'} second replay granted {second['xp_granted']} and revoked {second['xp_revoked']} XP "
              f"({second['duplicates']} duplicates ignored); first replay: {first['events']} events, "
              f"{first['malformed']} malformed (reference: {ref.get('malformed')})")
        passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
    print(f"difftest: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# make bench: BotHost's figures next to baselines measured in the same run
# (these machines are shared and noisy, so only same-run ratios mean much).
#   decode MB/s: bothost's tape decoder vs orjson vs Foundation's JSONDecoder;
#   end-to-end replay of N events (release build, default rules, persisted)
#   vs the Python reference pipeline (bench/reference.py, same rules, orjson,
#   batched SQLite transactions); peak RSS; raw SQLite limits for context.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-1000000}
PY=.venv/bin/python
BIN=.build/release/bothost
mkdir -p captures
capture=captures/bench-$events.jsonl
[ -s "$capture" ] || $PY bench/gen_capture.py --events "$events" --seed 42 --out "$capture"
sample=captures/bench-decode-100k.jsonl
[ -s "$sample" ] || head -n 100000 "$capture" > "$sample"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== decode ($(du -h "$sample" | cut -f1) sample, best of 3)"
tape=$($BIN bench-decode "$sample" --repeat 3)
orjson=$($PY bench/decode_baseline.py "$sample" --repeat 3)
foundation=$($BIN bench-decode "$sample" --foundation --repeat 1)

echo "== end to end: $events events ($(du -h "$capture" | cut -f1))"
bothost=$($PY bench/measure.py -- $BIN replay "$capture" --db "$tmp/bothost.sqlite" --quiet --format json)
reference=$($PY bench/measure.py -- $PY bench/reference.py "$capture" --db "$tmp/reference.sqlite" --batch 50000)
again=$($PY bench/measure.py -- $BIN replay "$capture" --db "$tmp/bothost.sqlite" --quiet --format json)
limits=$($PY bench/sqlite_limits.py "$tmp")

$PY - "$tape" "$orjson" "$foundation" "$bothost" "$reference" "$again" "$limits" "$events" <<'PYEOF'
import json, sys
tape, orj, fnd, bh, ref, again, limits = (json.loads(a) for a in sys.argv[1:8])
events = int(sys.argv[8])
def rate(m): return events / m["wall_seconds"]
rows = [
    ("decode, bothost tape", f"{tape['mb_per_s']:.0f} MB/s", "1.00x"),
    ("decode, orjson (Python)", f"{orj['mb_per_s']:.0f} MB/s", f"bothost {tape['mb_per_s']/orj['mb_per_s']:.2f}x"),
    ("decode, Foundation JSONDecoder", f"{fnd['mb_per_s']:.0f} MB/s", f"bothost {tape['mb_per_s']/fnd['mb_per_s']:.1f}x"),
    ("replay, bothost (wall, incl. start-up)", f"{rate(bh):,.0f} events/s", f"peak RSS {bh['peak_rss_mb']:.0f} MB"),
    ("replay, Python reference", f"{rate(ref):,.0f} events/s", f"bothost {rate(bh)/rate(ref):.1f}x, peak RSS {ref['peak_rss_mb']:.0f} MB"),
    ("second replay, bothost (all duplicates)", f"{rate(again):,.0f} events/s", ""),
    ("SQLite rowid append (Python executemany)", f"{limits['rowid_append_rows_per_s']:,.0f} rows/s", ""),
    ("SQLite time-keyed insert (WITHOUT ROWID)", f"{limits['time_keyed_insert_rows_per_s']:,.0f} rows/s", ""),
]
w = max(len(r[0]) for r in rows)
print()
for name, value, ratio in rows:
    print(f"{name:<{w}}  {value:>18}  {ratio}")
out = bh["output"]
print(f"\nbothost: {out['events']:,} events, {out['accounts']:,} accounts, {out['batches']} batches, "
      f"commit {out['commit_seconds']:.2f} s of {out['seconds']:.2f} s; in-process rate {out['events_per_second']:,.0f}/s")
PYEOF

#!/usr/bin/env bash
# The PostgreSQL store in `make bench` (issue 10): replay rate into PostgreSQL next to
# SQLite in the same run, and with 1, 2 and 4 partitioned hosts sharing one database.
#   scripts/bench_postgres.sh CAPTURE [BINARY]
# A throwaway cluster on loopback with durable settings (fsync and full-page writes on,
# synchronous_commit=off: SQLite's WAL with synchronous=NORMAL is the counterpart), or
# BOTHOST_BENCH_POSTGRES (a server whose user may create databases).
set -euo pipefail
cd "$(dirname "$0")/.."
capture=${1:?capture}
BIN=${2:-.build/release/bothost}
PY=.venv/bin/python
tmp=$(mktemp -d)
cluster=""
cleanup() { [ -n "$cluster" ] && scripts/pg-cluster.sh stop "$cluster"; rm -rf "$tmp"; }
trap cleanup EXIT
server=${BOTHOST_BENCH_POSTGRES:-}
if [ -z "$server" ]; then
  cluster="$tmp/cluster"
  server=$(BOTHOST_PG_DURABLE=1 scripts/pg-cluster.sh start "$cluster")
fi
base=${server%/*}
fresh() {  # a new empty database; prints its URL
  $PY - "$base" "$1" <<'PYEOF'
import subprocess, sys, os, glob
base, name = sys.argv[1], sys.argv[2]
psql = (sorted(glob.glob("/usr/lib/postgresql/*/bin/psql")) or ["psql"])[-1]
subprocess.run([psql, base + "/postgres", "-q", "-c", f"DROP DATABASE IF EXISTS {name}", "-c", f"CREATE DATABASE {name}"], check=True)
print(base + "/" + name)
PYEOF
}
same="--config bench/leveling-only.yaml"
cat "$capture" > /dev/null
sqlite=$($PY bench/measure.py -- $BIN replay "$capture" --db "$tmp/s.sqlite" --quiet --format json $same)
url=$(fresh one)
one=$($PY bench/measure.py -- $BIN replay "$capture" --store "$url" --quiet --format json $same)
hosts() {  # N partitioned hosts at the same time; prints {"wall_seconds":…, "commit": […]}
  local n=$1 url
  url=$(fresh "p$n")
  local start end
  start=$(date +%s.%N)
  for k in $(seq 0 $((n - 1))); do
    $BIN replay "$capture" --store "$url" --partition "$k/$n" --quiet --format json $same > "$tmp/host$k.json" &
  done
  wait
  end=$(date +%s.%N)
  $PY - "$start" "$end" "$tmp" "$n" <<'PYEOF'
import json, sys
start, end, tmp, n = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
hosts = [json.load(open(f"{tmp}/host{k}.json")) for k in range(n)]
print(json.dumps({"wall_seconds": end - start, "commit": [h["stage_seconds"]["commit"] for h in hosts],
                  "apply": [h["stage_seconds"]["apply"] for h in hosts]}))
PYEOF
}
two=$(hosts 2)
four=$(hosts 4)
$PY - "$sqlite" "$one" "$two" "$four" "$(nproc)" <<'PYEOF'
import json, sys
sqlite, one, two, four = (json.loads(a) for a in sys.argv[1:5])
cores = sys.argv[5]
events = sqlite["output"]["events"]
def rate(m): return events / m["wall_seconds"]
rows = [
    ("replay into SQLite (same run)", f"{rate(sqlite):,.0f} events/s", "1.00x", f"commit {sqlite['output']['stage_seconds']['commit']:.2f} s"),
    ("replay into PostgreSQL, 1 host", f"{rate(one):,.0f} events/s", f"{rate(one)/rate(sqlite):.2f}x",
     f"commit {one['output']['stage_seconds']['commit']:.2f} s, apply {one['output']['stage_seconds']['apply']:.2f} s"),
    ("replay into PostgreSQL, 2 partitioned hosts", f"{rate(two):,.0f} events/s", f"{rate(two)/rate(sqlite):.2f}x",
     "commit " + " / ".join(f"{c:.2f}" for c in two["commit"]) + " s"),
    ("replay into PostgreSQL, 4 partitioned hosts", f"{rate(four):,.0f} events/s", f"{rate(four)/rate(sqlite):.2f}x",
     "commit " + " / ".join(f"{c:.2f}" for c in four["commit"]) + " s"),
]
print(f"\n== PostgreSQL store: {events:,} events, every host and the server on this machine's {cores} cores")
w = max(len(r[0]) for r in rows)
for name, value, ratio, note in rows:
    print(f"{name:<{w}}  {value:>18}  {ratio:>6}  {note}")
PYEOF

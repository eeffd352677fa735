#!/usr/bin/env bash
# Differential test of the whole replay path against the independent Python
# reference (bench/reference.py), on a generated capture plus the real samples:
#   1. bothost's export equals the reference's (xp, level, milestones, status, handle);
#   2. a second replay into the same database changes nothing;
#   3. the .jsonl.zst and stdin paths give the same state as the plain file.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/debug/bothost}
events=${DIFFTEST_EVENTS:-60000}
PY=.venv/bin/python
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

$PY bench/gen_capture.py --events "$events" --seed 11 --out "$tmp/gen.jsonl"
cat Tests/BotHostTests/Fixtures/jetstream-real-samples.jsonl "$tmp/gen.jsonl" > "$tmp/capture.jsonl"

"$bin" replay "$tmp/capture.jsonl" --db "$tmp/a.sqlite" --quiet --format json > "$tmp/first.json"
"$bin" export accounts --db "$tmp/a.sqlite" > "$tmp/first.jsonl"
"$bin" replay "$tmp/capture.jsonl" --db "$tmp/a.sqlite" --quiet --format json > "$tmp/second.json"
"$bin" export accounts --db "$tmp/a.sqlite" > "$tmp/second.jsonl"

zstd -q -f "$tmp/capture.jsonl" -o "$tmp/capture.jsonl.zst"
"$bin" replay "$tmp/capture.jsonl.zst" --db "$tmp/z.sqlite" --quiet --format json > /dev/null
"$bin" export accounts --db "$tmp/z.sqlite" > "$tmp/zstd.jsonl"
"$bin" replay - --db "$tmp/s.sqlite" --quiet --format json < "$tmp/capture.jsonl" > /dev/null
"$bin" export accounts --db "$tmp/s.sqlite" > "$tmp/stdin.jsonl"

$PY bench/reference.py "$tmp/capture.jsonl" --db "$tmp/ref.sqlite" --export "$tmp/ref.jsonl" > "$tmp/ref.json"

$PY scripts/compare_exports.py \
  --pair "reference vs bothost" "$tmp/ref.jsonl" "$tmp/first.jsonl" \
  --pair "second replay vs first" "$tmp/first.jsonl" "$tmp/second.jsonl" \
  --pair "zstd vs plain" "$tmp/first.jsonl" "$tmp/zstd.jsonl" \
  --pair "stdin vs plain" "$tmp/first.jsonl" "$tmp/stdin.jsonl" \
  --summary "$tmp/first.json" "$tmp/second.json" "$tmp/ref.json"

#!/usr/bin/env bash
# make test: the Swift suites, the Python reference's own checks, and the
# differential test; ends with one 'tests: N passed, N failed' line over all three.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

swift build --build-tests || exit 1

# A throwaway PostgreSQL cluster on loopback for the store's PostgreSQL cases, unless
# BOTHOST_TEST_POSTGRES names a server already.
pgdir=""
if [ -z "${BOTHOST_TEST_POSTGRES:-}" ]; then
  pgdir=$(mktemp -d)
  BOTHOST_TEST_POSTGRES=$(scripts/pg-cluster.sh start "$pgdir/cluster") || { echo "could not start PostgreSQL" >&2; status=1; }
  export BOTHOST_TEST_POSTGRES
  trap 'rm -f "$log"; [ -n "$pgdir" ] && scripts/pg-cluster.sh stop "$pgdir/cluster"; [ -n "$pgdir" ] && rm -rf "$pgdir"' EXIT
fi

swift test --skip-build 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
swift_total=$(grep -oE 'Test run with [0-9]+ tests?' "$log" | grep -oE '[0-9]+' | tail -1)
swift_failed=$(grep -E '^✘ Test [^ ]+\(.*\) failed' "$log" | sort -u | wc -l)
swift_passed=$(( ${swift_total:-0} - swift_failed ))
if grep -q '✘ Test run' "$log"; then status=1; fi

.venv/bin/python bench/test_reference.py 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
py=$(grep -oE '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)

scripts/difftest.sh .build/debug/bothost 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
diff=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)

# Interoperability with a Jetstream client nobody here wrote (the atproto SDK, v2 wire).
capture=$(mktemp --suffix=.jsonl)
.venv/bin/python bench/gen_capture.py --events 3000 --seed 5 --out "$capture"
cat Tests/BotHostTests/Fixtures/jetstream-real-samples.jsonl >> "$capture"
timeout 300 .venv/bin/python Tests/interop/atproto_jetstream_reads_capture.py .build/debug/bothost "$capture" 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
rm -f "$capture"
interop=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[ -n "$interop" ] || interop="0 passed, 1 failed"

# The examples every shipped rule pack carries (bothost rules test).
.build/debug/bothost rules test examples/packs/*.yaml 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
packs=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[ -n "$packs" ] || packs="0 passed, 1 failed"

# examples/swift-plugin: a separate package that depends on BotHost by path, with a
# custom plugin and its own tests (its own scratch path, so the main build stays warm).
(cd examples/swift-plugin && swift build --build-tests --scratch-path ../../.build-example 2>&1 | grep -E "error|warning: unre" ;
 swift test --skip-build --scratch-path ../../.build-example) 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
example_total=$(grep -oE 'Test run with [0-9]+ tests?' "$log" | grep -oE '[0-9]+' | tail -1)
example_failed=$(grep -E '^✘ Test [^ ]+\(.*\) failed' "$log" | sort -u | wc -l)
if [ -z "$example_total" ]; then example="0 passed, 1 failed"; status=1
else example="$(( example_total - example_failed )) passed, $example_failed failed"; fi
if grep -q '✘ Test run' "$log"; then status=1; fi

# Hot reload of rule packs while `run` is live: a broken pack keeps the old one running.
.venv/bin/python scripts/reload_test.py .build/debug/bothost 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
reload=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[ -n "$reload" ] || reload="0 passed, 1 failed"

# Crash safety: 20 SIGKILLs of replay and of run at random points, then a restart.
.venv/bin/python scripts/crashtest.py .build/debug/bothost --kills 20 --events 100000 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
crash=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[ -n "$crash" ] || crash="0 passed, 1 failed"

# Exactly-once announcements: SIGKILLs of replay while it posts to a PDS that fails,
# rate-limits and stalls on its own schedule; then counted on the server.
.venv/bin/python scripts/outbox_crashtest.py .build/debug/bothost --kills 8 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
outboxcrash=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[ -n "$outboxcrash" ] || outboxcrash="0 passed, 1 failed"

# The OpenAPI document against the running HTTP API (schemathesis).
scripts/openapi_check.sh .build/debug/bothost 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
openapi=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[ -n "$openapi" ] || openapi="0 passed, 1 failed"

# The web pages rendered in headless Chromium: tables and the XP chart on the screenshots.
.venv/bin/python scripts/page_check.py .build/debug/bothost 2>&1 | grep -v "getdata" | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
pages=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[ -n "$pages" ] || pages="0 passed, 1 failed"

# The PostgreSQL store against SQLite: one host, partitioned hosts (one after the other,
# at the same time, one killed and restarted, four with grants read back cold).
.venv/bin/python scripts/pg_test.py .build/debug/bothost --events 40000 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
pgtest=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[ -n "$pgtest" ] || pgtest="0 passed, 1 failed"

count() { echo "$1" | grep -oE "[0-9]+ $2" | grep -oE '[0-9]+'; }
passed=$(( ${swift_passed:-0} + $(count "$py" passed) + $(count "$diff" passed) + $(count "$interop" passed) + $(count "$packs" passed) + $(count "$reload" passed) + $(count "$example" passed) + $(count "$crash" passed) + $(count "$outboxcrash" passed) + $(count "$openapi" passed) + $(count "$pages" passed) + $(count "$pgtest" passed) ))
failed=$(( ${swift_failed:-0} + $(count "$py" failed) + $(count "$diff" failed) + $(count "$interop" failed) + $(count "$packs" failed) + $(count "$reload" failed) + $(count "$example" failed) + $(count "$crash" failed) + $(count "$outboxcrash" failed) + $(count "$openapi" failed) + $(count "$pages" failed) + $(count "$pgtest" failed) ))
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo
echo "swift: ${swift_passed:-0} tests; reference self-checks: $py; difftest: $diff; interop: $interop; rule-pack examples: $packs; pack reload: $reload; swift-plugin example: $example; crashtest: $crash; outbox crashtest: $outboxcrash; openapi: $openapi; pages: $pages; postgres: $pgtest"
echo "tests: $passed passed, $failed failed"
exit $status

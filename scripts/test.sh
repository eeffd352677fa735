#!/usr/bin/env bash
# make test: the Swift suites, the Python reference's own checks, the differential test
# and the harnesses; ends with one 'tests: N passed, N failed' line over all of them.
#
# One debug build serves every phase. The phases run in two lanes at once, because
# several mostly wait (the outbox model on a PDS, live streams, SIGKILL schedules) and
# a 2-core machine would otherwise sit half idle:
#   this shell:  the Swift suites but the outbox model, the reference's checks, the
#                difftest, interop, rule-pack examples, pack reload, the crash test,
#                OpenAPI, pages, then the swift-plugin example
#   background:  the outbox model on SQLite, then the PostgreSQL test
#   background:  once the Swift suites are done, the outbox model on PostgreSQL,
#                then the outbox crash test
#                (the background lanes' output is printed when they are done)
# Every test waits for what it needs from the host (a line, a file, a commit, a lock),
# never for a fixed time, so a loaded machine makes it slower, not red.
set -uo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
log=$work/log
pgdir=""
cleanup() {
  [ -n "$pgdir" ] && scripts/pg-cluster.sh stop "$pgdir/cluster"
  [ -n "$pgdir" ] && rm -rf "$pgdir"
  rm -rf "$work"
}
trap cleanup EXIT
status=0
# Wall time per phase, printed at the end ('phase times: ...').
phase_start=$SECONDS; phase_times=()
lap() { phase_times+=("$1 $((SECONDS - phase_start)) s"); phase_start=$SECONDS; }

# What the build links first; the test tools (Chromium, PostgreSQL, the Python peers)
# install while it builds, unless apt would have to ask for a password.
scripts/install-deps.sh run || exit 1
deps_pid=""
if [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; then
  scripts/install-deps.sh test > "$work/deps.log" 2>&1 < /dev/null &
  deps_pid=$!
else
  scripts/install-deps.sh test || exit 1
fi

swift build --build-tests; build_status=$?
# The WebAssembly example plugins, from C with the toolchain's clang and wasm-ld.
make -s -C examples/wasm-plugin || build_status=1
lap build
if [ -n "$deps_pid" ]; then
  wait "$deps_pid"; deps_status=$?
  cat "$work/deps.log"
  [ "$deps_status" -eq 0 ] || { echo "scripts/install-deps.sh test failed" >&2; exit 1; }
fi
[ "$build_status" -eq 0 ] || exit 1
lap deps-wait

# A throwaway PostgreSQL cluster on loopback for the store's PostgreSQL cases, unless
# BOTHOST_TEST_POSTGRES names a server already.
if [ -z "${BOTHOST_TEST_POSTGRES:-}" ]; then
  pgdir=$(mktemp -d)
  BOTHOST_TEST_POSTGRES=$(scripts/pg-cluster.sh start "$pgdir/cluster") || { echo "could not start PostgreSQL" >&2; status=1; }
  export BOTHOST_TEST_POSTGRES
fi
lap postgres-start

# The background lanes. Each phase writes its own log and exit code; the lanes' times go
# to a file. The outbox model runs from the test binary itself (`swift test` holds the
# build directory's lock while it runs, and the other suites run under it in this
# shell), each of its two tests in a lane of its own.
model() {  # model NAME TEST
  NO_COLOR=1 .build/debug/BotHostPackageTests.xctest --testing-library swift-testing \
    --filter "OutboxModelTests/$2" > "$work/$1.log" 2>&1
  echo $? > "$work/$1.rc"
}
timed() {  # timed NAME COMMAND...: runs it, adds 'NAME N s' to the lanes' times
  local start=$SECONDS name=$1; shift
  "$@"
  echo "$name $((SECONDS - start)) s" >> "$work/lane.times"
}
# The PostgreSQL store against SQLite: one host, partitioned hosts (one after the other,
# at the same time, one killed and restarted, four with grants read back cold).
pgtest() {
  .venv/bin/python scripts/pg_test.py .build/debug/bothost --events 40000 > "$work/pgtest.log" 2>&1
  echo $? > "$work/pgtest.rc"
}
# Exactly-once announcements: SIGKILLs of replay while it posts to a PDS that fails,
# rate-limits and stalls on its own schedule; then counted on the server.
outboxcrash() {
  .venv/bin/python scripts/outbox_crashtest.py .build/debug/bothost --kills 8 > "$work/outboxcrash.log" 2>&1
  echo $? > "$work/outboxcrash.rc"
}
lane_sqlite() {
  timed outbox-model-sqlite model model consentAndExactlyOnceHoldAtTheInstantOfSending
  timed postgres pgtest
}
lane_postgres() {
  timed outbox-model-postgres model pgmodel consentAndExactlyOnceHoldWithTwoDispatchersAndExpiringLeases
  timed outbox-crashtest outboxcrash
}
lane_sqlite & lane_pids=$!
echo "(in the background: the outbox model suite, the PostgreSQL test, the outbox crash test; their output follows at the end)"

swift test --skip-build --skip OutboxModelTests 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
cp "$log" "$work/swift.log"
if grep -q '✘ Test run' "$log"; then status=1; fi
lap swift-test
# The second background lane starts only now: the live intake suites above wait for
# idle streams with timeouts, and beside them runs no more than the outbox model did
# when it ran inside `swift test`.
lane_postgres & lane_pids="$lane_pids $!"

.venv/bin/python bench/test_reference.py 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
py=$(grep -oE '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
lap reference

scripts/difftest.sh .build/debug/bothost 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
diff=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
lap difftest

# Interoperability with a Jetstream client nobody here wrote (the atproto SDK, v2 wire).
capture=$work/interop.jsonl
.venv/bin/python bench/gen_capture.py --events 3000 --seed 5 --out "$capture"
cat Tests/BotHostTests/Fixtures/jetstream-real-samples.jsonl >> "$capture"
timeout 300 .venv/bin/python Tests/interop/atproto_jetstream_reads_capture.py .build/debug/bothost "$capture" 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
rm -f "$capture"
interop=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[ -n "$interop" ] || interop="0 passed, 1 failed"
lap interop

# The labeler read by the atproto SDK and libipld: subscribeLabels (cursor replay across a
# server restart, a live follower), queryLabels, every signature verified.
timeout 300 .venv/bin/python Tests/interop/labeler_stream.py .build/debug/bothost 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
labeler=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[ -n "$labeler" ] || labeler="0 passed, 1 failed"
lap labeler

# The examples every shipped rule pack and WebAssembly plugin carries (bothost rules
# test), and the plugins' check (ABI, imports, limits, examples with their fuel).
.build/debug/bothost rules test examples/packs/*.yaml examples/wasm-plugin/leveling-without-post.yaml examples/wasm-plugin/*.wasm 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
packs=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[ -n "$packs" ] || packs="0 passed, 1 failed"
if .build/debug/bothost plugin check examples/wasm-plugin/*.wasm 2>/dev/null; then wasmcheck="1 passed, 0 failed"
else wasmcheck="0 passed, 1 failed"; status=1; fi
lap packs

# Hot reload of rule packs while `run` is live: a broken pack keeps the old one running.
.venv/bin/python scripts/reload_test.py .build/debug/bothost 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
reload=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[ -n "$reload" ] || reload="0 passed, 1 failed"
# The same for a WebAssembly plugin: a broken module is refused, the old one keeps running.
.venv/bin/python scripts/wasm_reload_test.py .build/debug/bothost 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
wasmreload=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[ -n "$wasmreload" ] || wasmreload="0 passed, 1 failed"
lap reload

# Crash safety: 20 SIGKILLs of replay and of run at random points, then a restart. 60,000
# events: the kills land across the whole run whatever its length, and the run's length (of
# the debug build, beside the background lanes) made this the longest phase (5-8 min at 100,000).
.venv/bin/python scripts/crashtest.py .build/debug/bothost --kills 20 --events 60000 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
crash=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[ -n "$crash" ] || crash="0 passed, 1 failed"
lap crashtest

# The OpenAPI document against the running HTTP API (schemathesis).
scripts/openapi_check.sh .build/debug/bothost 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
openapi=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[ -n "$openapi" ] || openapi="0 passed, 1 failed"
lap openapi

# The web pages rendered in headless Chromium: tables and the XP chart on the screenshots.
.venv/bin/python scripts/page_check.py .build/debug/bothost 2>&1 | grep -v "getdata" | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
pages=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
[ -n "$pages" ] || pages="0 passed, 1 failed"
lap pages

# examples/swift-plugin: a separate package that depends on BotHost by path, with a
# custom plugin and its own tests. It builds in the main scratch path (.build): every
# module it shares with BotHost (NIO, BoringSSL, GRDB, BotHost's own) is already built
# there, so only its three targets compile (~20 s instead of ~7 min for a scratch path
# of its own). The main package's pins go with it, so both resolve the same versions.
# It runs after every phase that uses the build: switching the scratch path's root
# package re-plans the build, and the next main build recompiles the Hummingbird
# modules (~20 s). The background lanes only run binaries, which this leaves alone.
[ -f Package.resolved ] && cp Package.resolved examples/swift-plugin/Package.resolved
(cd examples/swift-plugin && swift build --build-tests --scratch-path ../../.build 2>&1 | grep -E "error|warning: unre" ;
 swift test --skip-build --scratch-path ../../.build) 2>&1 | tee "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
example_total=$(grep -oE 'Test run with [0-9]+ tests?' "$log" | grep -oE '[0-9]+' | tail -1)
example_failed=$(grep -E '^✘ Test [^ ]+\(.*\) failed' "$log" | sort -u | wc -l)
if [ -z "$example_total" ]; then example="0 passed, 1 failed"; status=1
else example="$(( example_total - example_failed )) passed, $example_failed failed"; fi
if grep -q '✘ Test run' "$log"; then status=1; fi
lap swift-plugin

# The background lanes: wait for them, show what they printed, count it.
wait $lane_pids
lap background-wait
echo
echo "== background: outbox model suite"; cat "$work/model.log" "$work/pgmodel.log"
echo "== background: PostgreSQL test"; cat "$work/pgtest.log"
echo "== background: outbox crash test"; cat "$work/outboxcrash.log"
for phase in model pgmodel pgtest outboxcrash; do
  [ "$(cat "$work/$phase.rc" 2>/dev/null)" = 0 ] || status=1
done
if cat "$work/model.log" "$work/pgmodel.log" | grep -q '✘ Test run'; then status=1; fi
swift_total=0
for f in "$work/swift.log" "$work/model.log" "$work/pgmodel.log"; do
  n=$(grep -oE 'Test run with [0-9]+ tests?' "$f" | grep -oE '[0-9]+' | tail -1)
  swift_total=$(( swift_total + ${n:-0} ))
done
swift_failed=$(cat "$work/swift.log" "$work/model.log" "$work/pgmodel.log" | grep -E '^✘ Test [^ ]+\(.*\) failed' | sort -u | wc -l)
swift_passed=$(( swift_total - swift_failed ))
pgtest=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$work/pgtest.log" | tail -1)
[ -n "$pgtest" ] || pgtest="0 passed, 1 failed"
outboxcrash=$(grep -oE '[0-9]+ passed, [0-9]+ failed' "$work/outboxcrash.log" | tail -1)
[ -n "$outboxcrash" ] || outboxcrash="0 passed, 1 failed"
while read -r line; do phase_times+=("background: $line"); done < "$work/lane.times"

count() { echo "$1" | grep -oE "[0-9]+ $2" | grep -oE '[0-9]+'; }
passed=$(( ${swift_passed:-0} + $(count "$py" passed) + $(count "$diff" passed) + $(count "$interop" passed) + $(count "$labeler" passed) + $(count "$packs" passed) + $(count "$wasmcheck" passed) + $(count "$reload" passed) + $(count "$wasmreload" passed) + $(count "$example" passed) + $(count "$crash" passed) + $(count "$outboxcrash" passed) + $(count "$openapi" passed) + $(count "$pages" passed) + $(count "$pgtest" passed) ))
failed=$(( ${swift_failed:-0} + $(count "$py" failed) + $(count "$diff" failed) + $(count "$interop" failed) + $(count "$labeler" failed) + $(count "$packs" failed) + $(count "$wasmcheck" failed) + $(count "$reload" failed) + $(count "$wasmreload" failed) + $(count "$example" failed) + $(count "$crash" failed) + $(count "$outboxcrash" failed) + $(count "$openapi" failed) + $(count "$pages" failed) + $(count "$pgtest" failed) ))
[ "$status" -eq 0 ] || [ "$failed" -gt 0 ] || failed=1
echo
echo "swift: ${swift_passed:-0} tests; reference self-checks: $py; difftest: $diff; interop: $interop; labeler: $labeler; rule-pack and wasm examples: $packs; plugin check: $wasmcheck; pack reload: $reload; wasm reload: $wasmreload; swift-plugin example: $example; crashtest: $crash; outbox crashtest: $outboxcrash; openapi: $openapi; pages: $pages; postgres: $pgtest"
(IFS=,; echo "phase times (total $SECONDS s):${phase_times[*]/#/ }")
echo "tests: $passed passed, $failed failed"
exit $status

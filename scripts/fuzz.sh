#!/usr/bin/env bash
# make fuzz: builds libFuzzer targets with swiftc -sanitize=fuzzer,address and runs each
# for a bounded time (FUZZ_SECONDS, default 60) from a seed corpus of real events.
# A crash leaves its input in fuzz/artifacts/; turn it into a regression test
# (Tests/BotHostTests/FuzzRegressionTests.swift) before fixing it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
out=.build-fuzz
mkdir -p "$out" fuzz/artifacts fuzz/corpus/event-decoder fuzz/corpus/rule-expression
# Seed corpus: every real event, one file each (kept out of git: derived data).
if [ -z "$(ls -A fuzz/corpus/event-decoder 2>/dev/null)" ]; then
  split -l 1 -d -a 4 Tests/BotHostTests/Fixtures/jetstream-real-samples.jsonl fuzz/corpus/event-decoder/real-
fi
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name FuzzEventDecoder \
  Sources/BotHost/Decoding/*.swift Sources/BotHost/Support/ISOTime.swift Sources/BotHost/Support/FNV1a.swift fuzz/FuzzEventDecoder.swift \
  -o "$out/fuzz-event-decoder"
"$out/fuzz-event-decoder" -max_total_time="$seconds" -max_len=65536 -artifact_prefix=fuzz/artifacts/ \
  -print_final_stats=1 fuzz/corpus/event-decoder 2>&1 | tail -15

# The rule-pack expression language, seeded with the shipped pack's expressions.
if [ -z "$(ls -A fuzz/corpus/rule-expression 2>/dev/null)" ]; then
  grep -hoE '(xp|when): "[^"]+"' examples/packs/*.yaml | sed -E 's/^(xp|when): "//; s/"$//' | split -l 1 -d -a 4 - fuzz/corpus/rule-expression/seed-
  printf 'all(record.embed.images, i -> !isBlank(i.alt)) ? 70 : 60' > fuzz/corpus/rule-expression/seed-media
fi
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name FuzzRuleExpression \
  Sources/Rules/Packs/Expression.swift Sources/Rules/Packs/Schema.swift Sources/Rules/Packs/TypeChecker.swift \
  fuzz/FuzzRuleExpression.swift -o "$out/fuzz-rule-expression"
# detect_leaks=0: the schema is a lazily built global that LeakSanitizer reports at exit.
# -timeout=5: an input that takes longer is a bug (one did: an exponential `&&` chain).
ASAN_OPTIONS=detect_leaks=0 "$out/fuzz-rule-expression" -max_total_time="$seconds" -max_len=4096 -timeout=5 \
  -artifact_prefix=fuzz/artifacts/ \
  -print_final_stats=1 fuzz/corpus/rule-expression 2>&1 | tail -8

# The YAML inputs: the config loader and the whole rule-pack checker (they need Yams, so
# SwiftPM builds them, with the sanitizers on every module; fuzz/yaml/Package.swift).
mkdir -p fuzz/corpus/config fuzz/corpus/rule-pack fuzz/corpus/zstd-frame fuzz/corpus/rate-limit fuzz/corpus/consent-command
[ -n "$(ls -A fuzz/corpus/config 2>/dev/null)" ] || cp examples/config/*.yaml fuzz/corpus/config/
[ -n "$(ls -A fuzz/corpus/rule-pack 2>/dev/null)" ] || cp examples/packs/*.yaml fuzz/corpus/rule-pack/
# Hostile-input seeds (issue 18): real frames, a bomb and a 1 GiB-window frame; header sets; commands.
if [ -z "$(ls -A fuzz/corpus/zstd-frame 2>/dev/null)" ]; then
  head -c 20000 Tests/BotHostTests/Fixtures/jetstream-real-samples.jsonl | zstd -q -c > fuzz/corpus/zstd-frame/samples.zst
  head -c 300000 /dev/zero | zstd -q -c -19 > fuzz/corpus/zstd-frame/bomb.zst
  head -c 3000000 /dev/zero | zstd -q -c --long=30 --zstd=wlog=30 > fuzz/corpus/zstd-frame/wide.zst
  head -c 200 Tests/BotHostTests/Fixtures/jetstream-real-samples.jsonl | zstd -q -c -D Sources/BotHost/Resources/jetstream-zstd-dictionary > fuzz/corpus/zstd-frame/dict.zst
fi
if [ -z "$(ls -A fuzz/corpus/rate-limit 2>/dev/null)" ]; then
  printf 'ratelimit-limit:5000\nratelimit-remaining:4997\nratelimit-reset:1780003600\nratelimit-policy:5000;w=3600\n\n{"error":"RateLimitExceeded","message":"slow down"}' > fuzz/corpus/rate-limit/bsky
  printf 'ratelimit-remaining:99999999999999999999\nratelimit-reset:-1\nretry-after:9223372036854775807\n\n' > fuzz/corpus/rate-limit/huge
  printf '4997,5000,1780003600' > fuzz/corpus/rate-limit/stored
fi
if [ -z "$(ls -A fuzz/corpus/consent-command 2>/dev/null)" ]; then
  for text in "@bot opt in" "@bot OPT   OUT please" "@bot no ping" "@bot I'd never opt in" "@bot rank me" "opt in @bot"; do
    printf '\000\004\000\000%s' "$text" > "fuzz/corpus/consent-command/$(echo "$text" | tr -c 'a-zA-Z' _)"
  done
fi
# -parse-as-library: the targets have no main.swift; each defines `<module>_main`, which
# SwiftPM makes the entry point, and hands over to libFuzzer's driver.
swift build --package-path fuzz/yaml --scratch-path .build-fuzz/yaml -c release -Xswiftc -sanitize=fuzzer,address \
  -Xswiftc -parse-as-library 2>&1 | grep -v "ld.gold: warning" | grep -E "error|Compiling Fuzz|Build" || true
for target in FuzzConfig:config FuzzRulePack:rule-pack FuzzZstdFrame:zstd-frame FuzzRateLimit:rate-limit FuzzConsentCommand:consent-command; do
  ASAN_OPTIONS=detect_leaks=0 ".build-fuzz/yaml/release/${target%%:*}" -max_total_time="$seconds" -max_len=65536 -timeout=5 \
    -artifact_prefix=fuzz/artifacts/ -print_final_stats=1 "fuzz/corpus/${target##*:}" 2>&1 | tail -8
done

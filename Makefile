# BotHost — `make run` plays the bundled capture, `make test` runs every test,
# `make bench` measures against same-run baselines. Each target installs what it
# needs first (scripts/install-deps.sh run|test|bench: `make run` only the build's
# libraries and orjson, `make test` the test tools too) and is quick when that is done.
SHELL := /bin/bash
SWIFT ?= swift
PY := .venv/bin/python
CAPTURES := captures
RUN_EVENTS ?= 200000
BENCH_EVENTS ?= 1000000
# Real Jetstream events (a verbatim copy of shared/data/jetstream-real-samples.jsonl).
REAL_SAMPLES := Tests/BotHostTests/Fixtures/jetstream-real-samples.jsonl

.PHONY: all deps deps-run build release run test test-swift test-python test-diff bench captures clean fuzz

all: build

# What the tests need (Chromium, PostgreSQL, the Python test peers) on top of deps-run.
deps:
	@scripts/install-deps.sh test

# What building and `make run` need: the libraries the Swift build links, orjson.
deps-run:
	@scripts/install-deps.sh run

build: deps-run
	$(SWIFT) build

release: deps-run
	$(SWIFT) build -c release --product bothost

# The bundled capture: every real event of shared/data plus a larger generated one.
$(CAPTURES)/bundled.jsonl: bench/gen_capture.py | deps-run
	@mkdir -p $(CAPTURES)
	$(PY) bench/gen_capture.py --events $(RUN_EVENTS) --seed 7 --out $(CAPTURES)/generated.jsonl
	cat $(REAL_SAMPLES) $(CAPTURES)/generated.jsonl > $@

captures: $(CAPTURES)/bundled.jsonl

run: release captures
	@db=$$(mktemp -d)/bothost-run.sqlite; \
	echo "== replaying $(CAPTURES)/bundled.jsonl (dry run) into $$db"; \
	.build/release/bothost replay $(CAPTURES)/bundled.jsonl --db $$db --dry-run --config examples/config/demo.yaml && \
	echo && echo "== leaderboard" && .build/release/bothost top --db $$db --limit 15

# scripts/test.sh installs the test set itself, while the debug build runs.
test: deps-run
	scripts/test.sh

test-python: deps
	$(PY) bench/test_reference.py

# Differential test: bothost and the independent Python reference must export the
# same xp/level/milestones for a generated capture, and a second replay changes nothing.
test-diff: deps
	scripts/difftest.sh .build/debug/bothost

bench:
	scripts/install-deps.sh bench
	$(SWIFT) build -c release --product bothost
	scripts/bench.sh $(BENCH_EVENTS)

clean:
	rm -rf .build $(CAPTURES)

# Fuzzing (libFuzzer through swiftc -sanitize=fuzzer): bounded by FUZZ_SECONDS per target.
fuzz: deps
	scripts/fuzz.sh

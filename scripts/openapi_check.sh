#!/usr/bin/env bash
# Checks docs/openapi.yaml against the running HTTP API with schemathesis (PyPI):
# every documented status code and response schema, on a database with real data.
# Ends with 'openapi: N passed, N failed'.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/debug/bothost}
tmp=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$tmp"' EXIT
# Monthly seasons, so /v1/seasons answers with the calendar rather than 404.
printf 'seasons:\n  period: monthly\n' > "$tmp/config.yaml"
"$bin" replay Tests/BotHostTests/Fixtures/jetstream-real-samples.jsonl --db "$tmp/api.sqlite" --config "$tmp/config.yaml" --quiet > /dev/null
# With an admin token, so the admin endpoints exist (and answer 401 to requests without it).
BOTHOST_ADMIN_TOKEN=openapi-check-token "$bin" serve --db "$tmp/api.sqlite" --config "$tmp/config.yaml" --port 0 --log-level error > "$tmp/serve.out" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q serving "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
port=$(grep -oE ':[0-9]+' "$tmp/serve.out" | tail -1 | tr -d :)
if .venv/bin/schemathesis run docs/openapi.yaml --url "http://127.0.0.1:$port" --checks all \
     --max-examples 30 --phases examples,coverage,fuzzing --suppress-health-check all > "$tmp/st.log" 2>&1; then
  tail -5 "$tmp/st.log"
  echo "openapi: 1 passed, 0 failed"
else
  cat "$tmp/st.log"
  echo "openapi: 0 passed, 1 failed"
  exit 1
fi

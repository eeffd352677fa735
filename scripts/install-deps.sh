#!/usr/bin/env bash
# Installs what building and testing BotHost needs on a Debian machine, quickly
# when it is already there: system libraries via apt-get, Python tools in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# chromium: renders the web pages for the screenshot check (scripts/page_check.py).
# postgresql: the server the PostgreSQL store is tested against (a throwaway cluster
# on loopback, scripts/pg-cluster.sh; none is started as a service).
for pkg in libsqlite3-dev libzstd-dev libcurl4-openssl-dev zstd sqlite3 curl chromium postgresql; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then need+=(python3-venv); fi
# wrk (make bench only): loads the HTTP API.
if [ "${BOTHOST_BENCH:-}" = 1 ] && ! command -v wrk > /dev/null; then need+=(wrk); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "error: swift is not on PATH (BotHost needs Swift 6.1 or newer)" >&2
  exit 1
fi

# Python tools for the reference pipeline, the decode baseline and the tests.
# atproto: the Python SDK whose Jetstream client is the interoperability peer.
# schemathesis: checks docs/openapi.yaml against the running HTTP API.
# pillow: reads the page screenshots.
# arroba + lexrpc + flask + pyjwt: the real AT Protocol PDS the XRPC tests post to
# (Tests/xrpc-peer/pds.py), validating every record against the official lexicons;
# pinned, because the harness patches a few of arroba's internals.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import orjson, zstandard, atproto_jetstream, schemathesis, PIL, arroba, lexrpc, flask, jwt' >/dev/null 2>&1; then
  echo "setting up .venv (orjson, zstandard, atproto, schemathesis, pillow, arroba, lexrpc, flask, pyjwt)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check orjson zstandard atproto schemathesis pillow \
    'arroba[flask]==3.1' 'lexrpc[flask]==3.0' flask pyjwt
fi

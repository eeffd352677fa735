#!/usr/bin/env bash
# Installs what BotHost needs on a Debian machine, quickly when it is already there:
# system libraries via apt-get, Python tools in .venv. One set per target:
#   scripts/install-deps.sh run     make run / make build: the libraries the Swift build links
#                                   (SQLite, zstd, libcurl, libsecp256k1) and orjson for bench/gen_capture.py
#   scripts/install-deps.sh test    make test (the default): the run set plus the test tools
#                                   (Chromium, PostgreSQL, the CLIs, the Python test peers)
#   scripts/install-deps.sh bench   make bench: the test set plus wrk
set -euo pipefail
cd "$(dirname "$0")/.."
set_name=${1:-test}
[ "${BOTHOST_BENCH:-}" = 1 ] && set_name=bench  # the older spelling of `bench`
case "$set_name" in
  run|test|bench) ;;
  *) echo "usage: $0 [run|test|bench]" >&2; exit 2 ;;
esac

# The Swift build links SQLite (GRDB), zstd (CZstd), libcurl (CCurl, the XRPC client) and
# libsecp256k1 (CSecp256k1, the labeler's secp256k1 keys).
apt_pkgs=(libsqlite3-dev libzstd-dev libcurl4-openssl-dev libsecp256k1-dev)
if [ "$set_name" != run ]; then
  # zstd, sqlite3, curl: the command-line tools the test scripts call.
  # chromium: renders the web pages for the screenshot check (scripts/page_check.py).
  # postgresql: the server the PostgreSQL store is tested against (a throwaway cluster
  # on loopback, scripts/pg-cluster.sh; none is started as a service).
  apt_pkgs+=(zstd sqlite3 curl chromium postgresql)
fi
need=()
for pkg in "${apt_pkgs[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then need+=(python3-venv); fi
# wrk (make bench only): loads the HTTP API.
if [ "$set_name" = bench ] && ! command -v wrk > /dev/null; then need+=(wrk); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages ($set_name): ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "error: swift is not on PATH (BotHost needs Swift 6.1 or newer)" >&2
  exit 1
fi

# Python tools. orjson: bench/gen_capture.py writes the bundled capture (make run).
# For the tests, the reference pipeline, the decode baseline and the test peers:
# zstandard: zstd captures in the reference pipeline and the decode baseline.
# atproto: the Python SDK whose Jetstream client is the interoperability peer.
# schemathesis: checks docs/openapi.yaml against the running HTTP API.
# pillow: reads the page screenshots.
# arroba + lexrpc + flask + pyjwt: the real AT Protocol PDS the XRPC tests post to
# (Tests/xrpc-peer/pds.py), validating every record against the official lexicons;
# pinned, because the harness patches a few of arroba's internals.
if [ "$set_name" = run ]; then
  py_imports=orjson
  py_pkgs=(orjson)
else
  py_imports=orjson,zstandard,atproto_jetstream,schemathesis,PIL,arroba,lexrpc,flask,jwt
  py_pkgs=(orjson zstandard atproto schemathesis pillow 'arroba[flask]==3.1' 'lexrpc[flask]==3.0' flask pyjwt)
fi
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import $py_imports" >/dev/null 2>&1; then
  echo "setting up .venv ($set_name): ${py_pkgs[*]}"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check "${py_pkgs[@]}"
fi

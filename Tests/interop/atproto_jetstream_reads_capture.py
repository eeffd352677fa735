#!/usr/bin/env python3
"""Interoperability: the Python `atproto` SDK's Jetstream v2 client (a client nobody
here wrote) reads a capture from `bothost serve-jetstream` and must see exactly the
events the capture holds, in its order, with and without zstd.

    python3 Tests/interop/atproto_jetstream_reads_capture.py BOTHOST_BINARY CAPTURE

Prints one line per check and a final 'interop: N passed, N failed'.
"""
import json
import re
import subprocess
import sys
import threading

from atproto_jetstream import JetstreamClient


def expected_events(path):
    events = []
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                e = json.loads(line)
                if e.get("kind") in ("commit", "identity", "account"):
                    events.append((e["did"], e["kind"]))
            except (ValueError, KeyError):
                pass
    # The server serves in the capture's own order.
    return events


def read_all(port, count, compress):
    client = JetstreamClient(base_uri=f"ws://127.0.0.1:{port}/xrpc",
                             params={"kinds": ["commit", "identity", "account"]}, compress=compress)
    seen = []
    kinds = {"network.bsky.jetstream.subscribeEvents#commit": "commit",
             "network.bsky.jetstream.subscribeEvents#identity": "identity",
             "network.bsky.jetstream.subscribeEvents#account": "account"}

    def on_message(message):
        if getattr(message, "seq", None) is None:
            return  # #info advisory
        seen.append((message.did, kinds.get(message.py_type, message.py_type)))
        if len(seen) >= count:
            client.stop()

    timer = threading.Timer(60, client.stop)  # a bound: never hang the test run
    timer.start()
    try:
        client.start(on_message)
    finally:
        timer.cancel()
    return seen, client.compressed


def main():
    binary, capture = sys.argv[1], sys.argv[2]
    expected = expected_events(capture)
    server = subprocess.Popen([binary, "serve-jetstream", capture, "--port", "0", "--log-level", "error"],
                              stdout=subprocess.PIPE, text=True)
    passed = failed = 0
    try:
        line = server.stdout.readline()
        port = int(re.search(r"ws://127\.0\.0\.1:(\d+)", line).group(1))
        for compress in (False, True):
            seen, compressed = read_all(port, len(expected), compress)
            ok = seen == expected and compressed == compress
            print(f"{'ok  ' if ok else 'FAIL'} atproto_jetstream (compress={compress}, zstd in use={compressed}): "
                  f"{len(seen)} of {len(expected)} events, identical order and content: {seen == expected}")
            if not ok and seen != expected:
                for i, (a, b) in enumerate(zip(seen, expected)):
                    if a != b:
                        print(f"     first difference at {i}: {a} != {b}")
                        break
            passed, failed = (passed + 1, failed) if ok else (passed, failed + 1)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"interop: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

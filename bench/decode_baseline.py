#!/usr/bin/env python3
"""Decode-only baseline: how fast orjson parses a capture already in memory.

    python3 bench/decode_baseline.py CAPTURE [--repeat R]

Reads the whole capture (path, `-` for stdin, or `.zst` with the optional `zstandard` package)
into a list of byte lines, then times `orjson.loads` over every line, best of R runs (default 3),
and prints one JSON line: {"tool":"orjson","bytes":…,"lines":…,"seconds":…,"mb_per_s":…}
(MB = 1e6 bytes; `bytes` is the size of the decompressed capture, newlines included). Lines that
fail to parse are still timed (the Swift decoder has to reject them too) and reported as "errors".
"""

from __future__ import annotations

import argparse
import gc
import sys
import time

import orjson


def read_capture(path: str) -> bytes:
    if path == "-":
        data = sys.stdin.buffer.read()
    elif path.endswith(".zst"):
        try:
            import zstandard
        except ImportError:
            sys.exit("reading .zst needs the optional package: pip install zstandard")
        with open(path, "rb") as f:
            data = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True).read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    return data


def time_decode(lines: list[bytes]) -> tuple[float, int]:
    loads = orjson.loads
    errors = 0
    t0 = time.perf_counter()
    for line in lines:
        try:
            loads(line)
        except orjson.JSONDecodeError:
            errors += 1
    return time.perf_counter() - t0, errors


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Time orjson.loads over every line of a capture.")
    ap.add_argument("capture")
    ap.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    args = ap.parse_args(argv)

    data = read_capture(args.capture)
    total = len(data)
    lines = [line for line in data.split(b"\n") if line]
    del data
    best, errors = float("inf"), 0
    # The decoded objects are dropped immediately; keep the collector from walking them mid-run.
    gc.disable()
    try:
        for _ in range(max(1, args.repeat)):
            seconds, errors = time_decode(lines)
            best = min(best, seconds)
    finally:
        gc.enable()
    result = {"tool": "orjson", "bytes": total, "lines": len(lines), "seconds": round(best, 4),
              "mb_per_s": round(total / 1e6 / best, 1) if best > 0 else None}
    if errors:
        result["errors"] = errors
    print(orjson.dumps(result).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())

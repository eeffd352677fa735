#!/usr/bin/env python3
"""Runs a command and prints one JSON line with its wall time, peak RSS and its
stdout's last JSON object, so bothost and the Python reference are measured the
same way by scripts/bench.sh.

    python3 bench/measure.py -- CMD ARGS...
"""
import json
import resource
import subprocess
import sys
import time


def main():
    argv = sys.argv[1:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.PIPE)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(argv)}")
    last = {}
    for line in proc.stdout.decode().splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                last = json.loads(line)
            except ValueError:
                pass
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"wall_seconds": wall, "peak_rss_mb": peak_kib / 1024, "output": last}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""CPU seconds per partitioned host (issue 21): the same capture replayed into
PostgreSQL by 1 host, then by 2 and 4 partitioned hosts, each host's user+system CPU
taken from its own rusage (os.wait4) while it runs alone. Also the wall time of 2 hosts
at the same time, and the database time (commit seconds) from which the throughput of
N hosts on N machines is projected.

    python3 bench/partition_cpu.py BINARY CAPTURE POSTGRES_SERVER_URL [--config FILE]
"""
import argparse
import json
import os
import subprocess
import sys
import time


def fresh(server, name):
    base = server.rsplit("/", 1)[0]
    import glob
    psql = (sorted(glob.glob("/usr/lib/postgresql/*/bin/psql")) or ["psql"])[-1]
    subprocess.run([psql, base + "/postgres", "-q", "-c", f"DROP DATABASE IF EXISTS {name}", "-c", f"CREATE DATABASE {name}"],
                   check=True, stdout=subprocess.DEVNULL)
    return base + "/" + name


def run_hosts(binary, capture, url, config, parts, only=None):
    """Starts the hosts together (or only host `only`); returns (wall seconds, [per host:
    cpu seconds, summary])."""
    procs = []
    start = time.perf_counter()
    for k in (range(parts) if only is None else [only]):
        extra = ["--partition", f"{k}/{parts}"] if parts > 1 else []
        argv = [binary, "replay", capture, "--store", url, "--quiet", "--format", "json", "--config", config, *extra]
        procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE))
    results = [None] * len(procs)
    outputs = [p.stdout.read() for p in procs]  # each host's JSON summary (read before wait4)
    for index, proc in enumerate(procs):
        _, status, usage = os.wait4(proc.pid, 0)
        if status != 0:
            sys.exit(f"host {index} of {parts} failed ({status})")
        summary = {}
        for line in outputs[index].decode().splitlines():
            if line.startswith("{"):
                summary = json.loads(line)
        results[index] = (usage.ru_utime + usage.ru_stime, summary)
    return time.perf_counter() - start, results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("capture")
    parser.add_argument("server")
    parser.add_argument("--config", default="bench/leveling-only.yaml")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    # CPU seconds: each host alone (one after the other), so its figure is its own work
    # and not the contention of hosts and server on this machine's shared cores. The last
    # partition to finish also decides every ranking boundary (docs/scaling.md).
    rows = {}
    for parts in (1, 2, 4):
        url = fresh(args.server, f"cpu_p{parts}")
        cpu, commit, batches, events = [], [], [], []
        for k in range(parts):
            _, hosts = run_hosts(args.binary, args.capture, url, args.config, parts, only=k)
            cpu.append(hosts[0][0])
            commit.append(hosts[0][1].get("stage_seconds", {}).get("commit", 0.0))
            batches.append(hosts[0][1].get("batches", 0))
            events.append(hosts[0][1].get("events", 0) + hosts[0][1].get("foreign_events", 0))
        rows[parts] = {"cpu": cpu, "commit": commit, "batches": batches, "events": events}
    # Wall time: 2 partitioned hosts at the same time, sharing this machine with the server.
    url = fresh(args.server, "cpu_together")
    wall2, together = run_hosts(args.binary, args.capture, url, args.config, 2)
    single = rows[1]["cpu"][0]
    total = rows[1]["events"][0]
    print(f"\n== partitioned hosts on PostgreSQL: CPU seconds per host (its own rusage, each host alone), {total:,} events")
    for parts, row in rows.items():
        ratios = " / ".join(f"{c / single:.2f}x" for c in row["cpu"])
        cpus = " / ".join(f"{c:.2f}" for c in row["cpu"])
        print(f"{parts} host(s): cpu {cpus} s ({ratios} of one host); commit {' / '.join(f'{c:.2f}' for c in row['commit'])} s")
    print(f"2 hosts at the same time on this machine: wall {wall2:.2f} s ({total / wall2:,.0f} events/s), "
          f"cpu {' / '.join(f'{h[0]:.2f}' for h in together)} s")
    # Projection for N hosts on N machines: a host needs its own CPU seconds; one database
    # server needs the hosts' commit time (measured alone) if it were the only limit.
    for parts in (2, 4):
        row = rows[parts]
        host_limit = total / max(row["cpu"])
        db_limit = total / max(1e-9, sum(row["commit"]))
        print(f"projected, {parts} hosts on {parts} machines: host-bound {host_limit:,.0f} events/s, "
              f"database-bound (sum of the hosts' commit seconds) {db_limit:,.0f} events/s")
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback for the store tests (issue 10):
#   scripts/pg-cluster.sh start DIR [PORT]   initdb into DIR, start on PORT (default: a free
#                                            one), print the URL: postgres://bothost@127.0.0.1:PORT/bothost
#   scripts/pg-cluster.sh replica PRIMARY_DIR DIR [PORT]
#                                            a streaming read replica of the cluster in
#                                            PRIMARY_DIR (pg_basebackup -R), started on PORT
#   scripts/pg-cluster.sh stop DIR
# PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user.
# BOTHOST_TEST_POSTGRES, when set, names an existing server instead (no cluster is made).
# Tests run without fsync (a throwaway cluster); BOTHOST_PG_DURABLE=1 (make bench) keeps
# fsync and full-page writes and only defers the commit flush (synchronous_commit=off),
# the counterpart of SQLite's WAL with synchronous=NORMAL: a crash may lose the last
# commits, never corrupt.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?cluster directory}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$cmd" in
  start)
    port=${3:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
      chown postgres "$dir"
      chmod a+x "$(dirname "$dir")"  # e.g. a mktemp -d directory (0700): let the postgres user reach DIR
    fi
    as_owner "$bin/initdb" -D "$dir/data" -U bothost --auth=trust -E UTF8 --locale=C.UTF-8 > "$dir/initdb.log" 2>&1
    settings="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    [ "${BOTHOST_PG_DURABLE:-}" = 1 ] && settings="-c synchronous_commit=off -c shared_buffers=512MB -c max_wal_size=4GB -c checkpoint_timeout=15min"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o "-k $dir -h 127.0.0.1 -p $port $settings" start > /dev/null
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U bothost bothost
    echo "postgres://bothost@127.0.0.1:$port/bothost"
    ;;
  replica)
    primary=$dir
    dir=${3:?replica directory}
    port=${4:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
    primary_port=$(sed -n 4p "$primary/data/postmaster.pid")
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; chmod a+x "$(dirname "$dir")"; fi
    # -R writes primary_conninfo and standby.signal: the copy starts as a hot standby.
    as_owner "$bin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U bothost -D "$dir/data" -R -X stream > "$dir/basebackup.log" 2>&1
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -o "-k $dir -h 127.0.0.1 -p $port -c hot_standby=on" start > /dev/null
    echo "postgres://bothost@127.0.0.1:$port/bothost"
    ;;
  stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop > /dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start|stop DIR [PORT]" >&2; exit 2 ;;
esac

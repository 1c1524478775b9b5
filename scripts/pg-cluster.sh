#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL cluster for one test, on 127.0.0.1.
#   scripts/pg-cluster.sh start DIR PORT   -> prints the URL postgres://sotp@127.0.0.1:PORT/sotp
#   scripts/pg-cluster.sh stop DIR
# The server runs as the `postgres` user (it refuses root). Install it with
# `apt-get install postgresql` (scripts/setup-peers.sh does).
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "pg-cluster: PostgreSQL is not installed: run \`apt-get install postgresql\` (or scripts/setup-peers.sh)" >&2
  exit 1
fi
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$cmd" in
  start)
    port=${3:?PORT}
    mkdir -p "$dir"
    # The server user must be able to reach DIR: let it traverse the (test temp) parent.
    [ "$(id -u)" = 0 ] && chmod a+x "$(dirname "$dir")" && chown postgres "$dir" && chmod 700 "$dir"
    as_pg "$bin/initdb" -D "$dir/data" -A trust -U sotp --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U sotp sotp
    echo "postgres://sotp@127.0.0.1:$port/sotp"
    ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    ;;
  dump)
    port=${3:?PORT}
    "$bin/pg_dump" -h 127.0.0.1 -p "$port" -U sotp sotp
    ;;
  *) echo "usage: $0 start DIR PORT | stop DIR | dump DIR PORT" >&2; exit 2 ;;
esac

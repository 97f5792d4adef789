#!/usr/bin/env bash
# The scale-out leg: a three-master Redis Cluster and PgBouncer (transaction mode) in front of the
# shared PostgreSQL, then test/scale (two API and two worker processes on them). Every server it
# starts has a port from SCALE_PORT_BASE (default 7200) up and is stopped by its pid on exit.
#   SCALE_PORT_BASE+1..3  Redis Cluster masters     SCALE_PORT_BASE+10  PgBouncer
#   SCALE_PORT_BASE+21,22 APIs   +31,32 workers      SCALE_PORT_BASE+40  payment simulator
set -euo pipefail
cd "$(dirname "$0")/.."

base=${SCALE_PORT_BASE:-7200}
pg_host=${SCALE_PG_HOST:-127.0.0.1}
pg_port=${SCALE_PG_PORT:-5432}
work=$(mktemp -d /tmp/brigade-scale.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

if ! command -v pgbouncer >/dev/null; then
  echo "installing pgbouncer"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null
fi
# The package's own service stays off: this leg runs its own, on its own port.
pgbouncer_bin=$(command -v pgbouncer)

await() { # await <what> <command...>: up to 30 s
  local what=$1; shift
  for _ in $(seq 1 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "scale-out: $what did not come up"; return 1
}

nodes=()
for i in 1 2 3; do
  port=$((base + i))
  mkdir -p "$work/redis-$port"
  redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file "$work/redis-$port/nodes.conf" \
    --dir "$work/redis-$port" --save "" --appendonly no --logfile "$work/redis-$port/log" &
  pids+=($!)
  nodes+=("127.0.0.1:$port")
done
for n in "${nodes[@]}"; do await "redis $n" redis-cli -p "${n#*:}" ping; done
redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$work/cluster-create.log"
for n in "${nodes[@]}"; do
  await "cluster state on $n" bash -c "redis-cli -p ${n#*:} cluster info | grep -q cluster_state:ok"
done

# PgBouncer refuses to run as root: as root it runs as the postgres user, which owns its files.
cat >"$work/pgbouncer.ini" <<INI
[databases]
* = host=$pg_host port=$pg_port
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $((base + 10))
unix_socket_dir =
pool_mode = transaction
; Roles are the database's own (Brigade's runtime role is made per database by its migrations):
; PgBouncer looks each one up through auth_query; PostgreSQL here trusts loopback connections.
auth_type = trust
auth_file = $work/pgbouncer-users.txt
auth_user = postgres
default_pool_size = 8
max_client_conn = 400
logfile = $work/pgbouncer.log
ignore_startup_parameters = extra_float_digits
INI
: >"$work/pgbouncer-users.txt"
if [[ $(id -u) -eq 0 ]]; then
  chown -R postgres "$work"
  setpriv --reuid=postgres --regid=postgres --clear-groups "$pgbouncer_bin" -q "$work/pgbouncer.ini" &
else
  "$pgbouncer_bin" -q "$work/pgbouncer.ini" &
fi
pids+=($!)
await "pgbouncer" psql "postgres://postgres@127.0.0.1:$((base + 10))/postgres" -Atc "SELECT 1"

export SCALE_REDIS_URL="redis://${nodes[0]}"
export SCALE_PGBOUNCER_URL="postgres://postgres@127.0.0.1:$((base + 10))/postgres"
export SCALE_PORT_BASE=$base
echo "scale-out: Redis Cluster on ${nodes[*]}, PgBouncer (transaction mode) on 127.0.0.1:$((base + 10))"
timeout 300 node --import tsx test/run.ts --dir test/scale

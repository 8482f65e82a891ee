#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the storage tests (Debian 12, run as root).
#
#   .ci/postgres.sh [DATA_DIR]        install if missing, init, start, create loudong_test
#   .ci/postgres.sh stop [DATA_DIR]   stop the cluster (the data directory is left for reuse)
#
# Idempotent: a second run finds the cluster running and only prints the URL again. Stdout is exactly
# one line, so `export "$(.ci/postgres.sh)"` works; progress goes to stderr.
#
# Environment: LOUDONG_PG_DIR (data directory, default $TMPDIR/loudong-pg), LOUDONG_PG_PORT (preferred
# port, default 55432; the next free port is taken when it is busy).
#
# Trust authentication on 127.0.0.1 only, fsync off: this cluster is for tests, never for data.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

action=start
if [[ "${1:-}" == "start" || "${1:-}" == "stop" ]]; then
  action=$1
  shift
fi
data_dir=${1:-${LOUDONG_PG_DIR:-${TMPDIR:-/tmp}/loudong-pg}}
preferred_port=${LOUDONG_PG_PORT:-55432}
database=loudong_test

# Run a command as the postgres user (initdb and postgres refuse to run as root).
as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

find_bin_dir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [[ -n "$dir" && -x "$dir/pg_ctl" ]] && echo "$dir"
}

install_postgres() {
  if [[ $(id -u) -ne 0 ]]; then
    log "PostgreSQL is not installed and installing it needs root"
    exit 1
  fi
  log "installing postgresql with apt-get"
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >&2
  # The package starts a system cluster on 5432; it is not ours and we do not touch it.
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

bin_dir=$(find_bin_dir || true)

if [[ "$action" == "stop" ]]; then
  if [[ -n "$bin_dir" && -f "$data_dir/postmaster.pid" ]]; then
    as_postgres "$bin_dir/pg_ctl" -D "$data_dir" -m fast -w stop >&2
  else
    log "no cluster running in $data_dir"
  fi
  exit 0
fi

if [[ -z "$bin_dir" ]]; then
  install_postgres
  bin_dir=$(find_bin_dir)
fi

if [[ ! -s "$data_dir/PG_VERSION" ]]; then
  log "initialising a cluster in $data_dir"
  mkdir -p "$data_dir"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres:postgres "$data_dir"
  fi
  chmod 700 "$data_dir"
  as_postgres "$bin_dir/initdb" -D "$data_dir" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >&2
fi

if as_postgres "$bin_dir/pg_ctl" -D "$data_dir" status >/dev/null 2>&1; then
  # Already running: the fourth line of postmaster.pid is its port.
  port=$(sed -n 4p "$data_dir/postmaster.pid")
  log "cluster already running on port $port"
else
  port=$preferred_port
  while port_in_use "$port"; do
    port=$((port + 1))
  done
  log "starting on 127.0.0.1:$port"
  as_postgres "$bin_dir/pg_ctl" -D "$data_dir" -l "$data_dir/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$data_dir \
-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >&2
fi

psql_admin() {
  as_postgres "$bin_dir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"
}

if [[ -z $(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$database'") ]]; then
  log "creating database $database"
  psql_admin -c "CREATE DATABASE $database" >&2
fi

echo "LOUDONG_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:$port/$database"

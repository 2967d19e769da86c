#!/usr/bin/env bash
# The distributed stack on loopback, without containers: a Prefect server, the
# `launchgate-process` work pool, launchgate's deployments (prefect.yaml) and a process worker.
# A release triggered here runs in the worker's subprocess, not in the caller.
#
#   scripts/stack.sh up [--postgres]   start server (SQLite, or PostgreSQL from Debian's packages), pool, deploy, worker
#   scripts/stack.sh release           start the example's simulated models and run the `release` deployment
#   scripts/stack.sh status            what is running; the env to talk to this server
#   scripts/stack.sh down              stop everything this script started
#
# Settings (env): STACK_DIR (.launchgate/stack), STACK_PORT (4200), STACK_TIMEOUT_S (180).
# Everything lives under STACK_DIR: PREFECT_HOME (database, profiles), logs, pid files.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_BIN="${VENV_BIN:-$ROOT/.venv/bin}"
STACK_DIR="$(mkdir -p "${STACK_DIR:-$ROOT/.launchgate/stack}" && cd "${STACK_DIR:-$ROOT/.launchgate/stack}" && pwd)"
PORT="${STACK_PORT:-4200}"
TIMEOUT_S="${STACK_TIMEOUT_S:-180}"
POOL=launchgate-process

export PREFECT_HOME="$STACK_DIR/prefect-home"
export PREFECT_API_URL="http://127.0.0.1:$PORT/api"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_SERVER_API_HOST=127.0.0.1
export PREFECT_SERVER_API_PORT="$PORT"
export PREFECT_WORKER_QUERY_SECONDS="${PREFECT_WORKER_QUERY_SECONDS:-1}"  # pick runs up in ~1 s, not 10
export PREFECT_LOGGING_LEVEL="${PREFECT_LOGGING_LEVEL:-INFO}"
# A fresh database runs its migrations first: on a busy machine that exceeds Prefect's 20 s default.
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=120
prefect() { "$VENV_BIN/prefect" "$@"; }

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'stack: %s\n' "$*" >&2; exit 1; }

# Start "$@" in its own session (so `down` can stop it with everything it spawned), logging to $1.log.
spawn() {
  local name=$1; shift
  if is_running "$name"; then log "$name already running (pid $(cat "$STACK_DIR/$name.pid"))"; return; fi
  setsid "$@" >"$STACK_DIR/$name.log" 2>&1 < /dev/null &
  echo $! >"$STACK_DIR/$name.pid"
  log "$name started (pid $!, log $STACK_DIR/$name.log)"
}

is_running() { [[ -f "$STACK_DIR/$1.pid" ]] && kill -0 "$(cat "$STACK_DIR/$1.pid")" 2>/dev/null; }

stop() {
  local name=$1 pid
  [[ -f "$STACK_DIR/$name.pid" ]] || return 0
  pid=$(cat "$STACK_DIR/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    log "$name stopped"
  fi
  rm -f "$STACK_DIR/$name.pid"
}

wait_http() {  # wait_http URL NAME: until URL answers 2xx, or the process NAME died, or the timeout
  local url=$1 name=$2 deadline=$((SECONDS + TIMEOUT_S))
  until "$VENV_BIN/python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "$url" 2>/dev/null; do
    is_running "$name" || { tail -n 30 "$STACK_DIR/$name.log" >&2; die "$name exited; log above"; }
    ((SECONDS < deadline)) || die "$url did not answer within ${TIMEOUT_S}s (log: $STACK_DIR/$name.log)"
    sleep 0.5
  done
}

free_port() { "$VENV_BIN/python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }

# PostgreSQL from Debian's packages, as a private cluster under STACK_DIR on a free loopback port.
start_postgres() {
  local bin pgdata="$STACK_DIR/pgdata" pgport
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -z "$bin" ]]; then
    log "installing PostgreSQL from Debian's packages"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
  # PostgreSQL refuses to run as root: run it as the `postgres` user the package created.
  local as=()
  [[ $(id -u) == 0 ]] && as=(runuser -u postgres --)
  pgport=$(cat "$STACK_DIR/pg.port" 2>/dev/null || free_port)
  echo "$pgport" >"$STACK_DIR/pg.port"
  if [[ ! -f "$pgdata/PG_VERSION" ]]; then
    mkdir -p "$pgdata" && [[ ${#as[@]} -eq 0 ]] || chown postgres "$pgdata"
    "${as[@]}" "$bin/initdb" -D "$pgdata" -U prefect --auth=trust >"$STACK_DIR/pg-init.log"
  fi
  [[ ${#as[@]} -eq 0 ]] || chown postgres "$STACK_DIR"
  spawn postgres "${as[@]}" "$bin/postgres" -D "$pgdata" -p "$pgport" -k "$STACK_DIR" -c listen_addresses=127.0.0.1
  for _ in $(seq 60); do "$bin/pg_isready" -q -h 127.0.0.1 -p "$pgport" && break; sleep 0.5; done
  "${as[@]}" "$bin/createdb" -h 127.0.0.1 -p "$pgport" -U prefect prefect 2>/dev/null || true
  export PREFECT_API_DATABASE_CONNECTION_URL="postgresql+asyncpg://prefect@127.0.0.1:$pgport/prefect"
  echo "$PREFECT_API_DATABASE_CONNECTION_URL" >"$STACK_DIR/db.url"
}

cmd_up() {
  local postgres=false
  [[ "${1:-}" == "--postgres" ]] && postgres=true
  mkdir -p "$PREFECT_HOME"
  if $postgres; then start_postgres; fi
  if [[ -f "$STACK_DIR/db.url" ]]; then export PREFECT_API_DATABASE_CONNECTION_URL="$(cat "$STACK_DIR/db.url")"; fi
  spawn server "$VENV_BIN/prefect" server start --host 127.0.0.1 --port "$PORT"
  wait_http "$PREFECT_API_URL/health" server
  log "server healthy at ${PREFECT_API_URL%/api}"
  prefect --no-prompt work-pool create "$POOL" --type process --overwrite >/dev/null
  log "work pool $POOL ready"
  (cd "$ROOT" && prefect --no-prompt deploy --all) >"$STACK_DIR/deploy.log" 2>&1 \
    || { tail -n 30 "$STACK_DIR/deploy.log" >&2; die "prefect deploy failed"; }
  log "deployments registered: $(grep -c 'Deployment .* successfully created' "$STACK_DIR/deploy.log" || true)"
  # The worker's flow runs are its subprocesses, with the deployment's working directory (the repo).
  spawn worker "$VENV_BIN/prefect" worker start --pool "$POOL" --type process
  cmd_env
}

cmd_release() {
  is_running worker || die "the stack is not up: scripts/stack.sh up"
  local variants="$ROOT/examples/support-bot/variants.yaml" sp cp
  sp=$(free_port); cp=$(free_port)
  spawn sim-stable "$VENV_BIN/launchgate" sim --variants "$variants" --variant stable --port "$sp"
  spawn sim-candidate "$VENV_BIN/launchgate" sim --variants "$variants" --variant good-candidate --port "$cp"
  wait_http "http://127.0.0.1:$sp/health" sim-stable
  wait_http "http://127.0.0.1:$cp/health" sim-candidate
  local params  # readiness warns here: the stack shows the distributed path; make demo shows readiness blocking and attestations
  params=$(printf '{"config": "examples/support-bot/release.yaml", "auto_approve": true, "artifacts": "%s", "overrides": {"stable.endpoint": "http://127.0.0.1:%s/v1", "candidate.endpoint": "http://127.0.0.1:%s/v1", "load_test.enabled": false, "readiness.enforce": "warn"}}' \
    "${STACK_ARTIFACTS:-$STACK_DIR/store}" "$sp" "$cp")
  log "triggering release/release (runs in the worker's process)"
  prefect deployment run release/release --params "$params" --watch --watch-interval 2 --watch-timeout "$TIMEOUT_S"
  stop sim-stable
  stop sim-candidate
}

cmd_env() {
  echo "export PREFECT_API_URL=$PREFECT_API_URL PREFECT_HOME=$PREFECT_HOME"
}

cmd_status() {
  for name in postgres server worker sim-stable sim-candidate; do
    if is_running "$name"; then echo "$name: running (pid $(cat "$STACK_DIR/$name.pid"))"; else echo "$name: stopped"; fi
  done
  cmd_env
}

cmd_down() {
  # In parallel: each stop waits up to 10 s for a graceful exit, and nothing here depends on the others
  # being up while it shuts down (the worker's last heartbeat failing is fine). PostgreSQL goes last.
  for name in sim-candidate sim-stable worker server; do stop "$name" & done
  wait
  stop postgres
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  release) cmd_release ;;
  status) cmd_status ;;
  env) cmd_env ;;
  down) cmd_down ;;
  *) sed -n '2,13p' "$0" >&2; exit 2 ;;
esac

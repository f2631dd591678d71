#!/usr/bin/env bash
# Stop what deploy/tracking_up.sh DIR started: the MLflow server (its process group, by the pid in
# DIR/mlflow.pid) and DIR's PostgreSQL cluster (pg_ctl stop). Data stays in DIR for the next start.
# Usage: deploy/tracking_down.sh [DIR]
set -uo pipefail
DIR=$(realpath -m "${1:-${ACTLAB_TRACKING_DIR:-/var/lib/actlab/tracking}}")
if [ -s "$DIR/mlflow.pid" ]; then
  pid=$(cat "$DIR/mlflow.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
  fi
  rm -f "$DIR/mlflow.pid"
fi
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -n "$PG_BIN" ] && [ -s "$DIR/pg/data/postmaster.pid" ]; then
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$DIR/pg/data" stop -m fast -w >/dev/null 2>&1
fi
echo "tracking_down: stopped the server and database of $DIR" >&2

#!/usr/bin/env bash
# A team's MLflow tracking server with logins, on PostgreSQL, bound to 127.0.0.1:
#
#   sudo bash deploy/tracking_up.sh [DIR]      # DIR defaults to /var/lib/actlab/tracking
#
# - installs PostgreSQL with apt if it is missing; a database cluster of its own in DIR/pg (owned by
#   the postgres user), listening on 127.0.0.1:${ACTLAB_PG_PORT:-5433} only;
# - a role `mlflow` with a generated password and two databases it owns: `mlflow` (runs) and
#   `mlflow_auth` (users and permissions); the password sits in DIR/secrets/pgpass (mode 600) and in
#   no URI or command line;
# - `mlflow server --app-name basic-auth` (MLflow's login app) on 127.0.0.1:${ACTLAB_TRACKING_PORT:-5000},
#   artifacts in DIR/artifacts, its log in DIR/mlflow.log; the admin user is `admin`, its password
#   generated once into DIR/secrets/admin_password (or taken from MLFLOW_AUTH_ADMIN_PASSWORD).
# Runs again safely: what is running is left alone, what is stopped (PostgreSQL, the server) starts.
# The server runs with `${ACTLAB_PYTHON:-python}` (an environment with `pip install -e '.[team]'`).
# Stop it all with deploy/tracking_down.sh DIR.
set -euo pipefail
DIR=$(realpath -m "${1:-${ACTLAB_TRACKING_DIR:-/var/lib/actlab/tracking}}")
PG_PORT=${ACTLAB_PG_PORT:-5433}
PORT=${ACTLAB_TRACKING_PORT:-5000}
PYTHON=${ACTLAB_PYTHON:-python}
say() { echo "tracking_up: $*" >&2; }
die() { echo "tracking_up: error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (PostgreSQL's cluster belongs to the postgres user)"
# shellcheck source=deploy/apt_need.sh
source "$(dirname "$0")/apt_need.sh"
apt_need psql:postgresql-client "/usr/lib/postgresql/*/bin/pg_ctl:postgresql"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
"$PYTHON" -c "import mlflow.server.auth, psycopg2" 2>/dev/null \
  || die "$PYTHON lacks MLflow's login app or psycopg2: pip install -e '.[team]' (or set ACTLAB_PYTHON)"

umask 077
mkdir -p "$DIR/secrets" "$DIR/artifacts" "$DIR/pg/run"
chmod 755 "$DIR" "$DIR/pg"
chown postgres:postgres "$DIR/pg" "$DIR/pg/run"
secret() { [ -s "$1" ] || head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$1"; chmod 600 "$1"; }
secret "$DIR/secrets/pg_password"
secret "$DIR/secrets/flask_secret_key"
if [ -n "${MLFLOW_AUTH_ADMIN_PASSWORD:-}" ] && [ ! -s "$DIR/secrets/admin_password" ]; then
  printf '%s' "$MLFLOW_AUTH_ADMIN_PASSWORD" > "$DIR/secrets/admin_password"
fi
secret "$DIR/secrets/admin_password"
PG_PASSWORD=$(cat "$DIR/secrets/pg_password")
# libpq reads the password from here (PGPASSFILE): no URI, log or `ps` line carries it.
printf '127.0.0.1:%s:*:mlflow:%s\n' "$PG_PORT" "$PG_PASSWORD" > "$DIR/secrets/pgpass"
chmod 600 "$DIR/secrets/pgpass"

as_pg() { runuser -u postgres -- "$@"; }
DATA="$DIR/pg/data"
if [ ! -s "$DATA/PG_VERSION" ]; then
  as_pg "$PG_BIN/initdb" -D "$DATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 >"$DIR/pg/initdb.log" 2>&1 \
    || die "initdb failed: see $DIR/pg/initdb.log"
fi
if ! as_pg "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$DIR/pg/postgresql.log" -w -t 60 \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $DIR/pg/run" start >/dev/null \
    || die "PostgreSQL did not start: see $DIR/pg/postgresql.log"
fi
psql_admin() { as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$DIR/pg/run" -p "$PG_PORT" -d postgres "$@"; }
if [ "$(psql_admin -tAc "select 1 from pg_roles where rolname = 'mlflow'")" != 1 ]; then
  psql_admin -c "create role mlflow login password '$PG_PASSWORD'" >/dev/null
fi
for db in mlflow mlflow_auth; do
  if [ "$(psql_admin -tAc "select 1 from pg_database where datname = '$db'")" != 1 ]; then
    psql_admin -c "create database $db owner mlflow" >/dev/null
  fi
done

cat > "$DIR/basic_auth.ini" <<INI
[mlflow]
# Written by deploy/tracking_up.sh. Users without a grant may read every experiment, not write it;
# whoever creates an experiment may manage it.
default_permission = READ
database_uri = postgresql+psycopg2://mlflow@127.0.0.1:$PG_PORT/mlflow_auth
admin_username = admin
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
INI

URL="http://127.0.0.1:$PORT"
if [ -s "$DIR/mlflow.pid" ] && kill -0 "$(cat "$DIR/mlflow.pid")" 2>/dev/null; then
  say "the server is already running at $URL (pid $(cat "$DIR/mlflow.pid"))"
else
  # setsid: its own process group, which tracking_down.sh stops as a whole (gunicorn/uvicorn workers).
  PGPASSFILE="$DIR/secrets/pgpass" MLFLOW_AUTH_CONFIG_PATH="$DIR/basic_auth.ini" \
  MLFLOW_FLASK_SERVER_SECRET_KEY="$(cat "$DIR/secrets/flask_secret_key")" \
  MLFLOW_AUTH_ADMIN_PASSWORD="$(cat "$DIR/secrets/admin_password")" \
  MLFLOW_BACKEND_STORE_URI="postgresql+psycopg2://mlflow@127.0.0.1:$PG_PORT/mlflow" \
    setsid "$PYTHON" -m mlflow server --app-name basic-auth --host 127.0.0.1 --port "$PORT" \
      --artifacts-destination "$DIR/artifacts" --workers "${ACTLAB_TRACKING_WORKERS:-2}" \
      >"$DIR/mlflow.log" 2>&1 < /dev/null &
  echo $! > "$DIR/mlflow.pid"
  for _ in $(seq 1 120); do
    kill -0 "$(cat "$DIR/mlflow.pid")" 2>/dev/null || die "the MLflow server stopped at start: see $DIR/mlflow.log"
    if "$PYTHON" -c "import urllib.request as u; u.urlopen('$URL/health', timeout=1)" 2>/dev/null; then break; fi
    sleep 0.5
  done
  "$PYTHON" -c "import urllib.request as u; u.urlopen('$URL/health', timeout=1)" 2>/dev/null \
    || die "the MLflow server did not answer within 60 s: see $DIR/mlflow.log"
  say "MLflow server with logins at $URL (PostgreSQL on 127.0.0.1:$PG_PORT); admin password in $DIR/secrets/admin_password"
fi
echo "$URL"

#!/usr/bin/env bash
# start: starts the local PostgreSQL cluster if it is down, creates the test role (allowed to
#        create one database per test) and prints its URL. Writes the state file so `stop`
#        only stops a cluster this script started.
# stop:  stops the cluster if `start` started it.
set -euo pipefail
STATE_DIR=${STATE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/target/test-env}
mkdir -p "$STATE_DIR"
ROLE=sso_test
PASSWORD=sso_test_password
PORT=${PGPORT:-5432}

version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }

case "${1:-start}" in
start)
  V=$(version)
  if [ -z "$V" ]; then
    V=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    pg_createcluster "$V" main >/dev/null
  fi
  if ! pg_lsclusters -h | awk -v v="$V" '$1==v && $2=="main" {print $4}' | grep -q online; then
    pg_ctlcluster "$V" main start
    echo "$V" > "$STATE_DIR/postgres.started"
  fi
  for _ in $(seq 1 50); do
    su postgres -c "pg_isready -q -p $PORT" && break
    sleep 0.2
  done
  su postgres -c "psql -q -p $PORT -v ON_ERROR_STOP=1" <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
  END IF;
END \$\$;
SQL
  # Databases left by earlier runs (one per test, named sso_t_…).
  for db in $(su postgres -c "psql -p $PORT -Atc \"SELECT datname FROM pg_database WHERE datname LIKE 'sso\\_t\\_%'\""); do
    su postgres -c "dropdb -p $PORT --if-exists $db" || true
  done
  echo "postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/postgres"
  ;;
stop)
  if [ -f "$STATE_DIR/postgres.started" ]; then
    pg_ctlcluster "$(cat "$STATE_DIR/postgres.started")" main stop || true
    rm -f "$STATE_DIR/postgres.started"
  fi
  ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

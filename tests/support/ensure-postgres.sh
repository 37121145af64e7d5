#!/usr/bin/env bash
# Make a throwaway PostgreSQL server for the tests and print its DSN on stdout (the last line).
# Installs Debian's `postgresql` when missing, creates (once) a cluster named webapp-test on
# 127.0.0.1:${PG_TEST_PORT:-55432} with a role that may create databases, and starts it.
# Idempotent: a second run finds the cluster and only starts it when it is down. Runs side by side
# (one per pytest-xdist worker) take turns: two starts at once made the second fail on a bound port.
set -euo pipefail
exec 9>/tmp/webapp-ensure-postgres.lock
flock 9

port=${PG_TEST_PORT:-55432}
cluster=webapp-test
role=webapp_test
password=webapp_test  # a local, loopback-only test cluster: not a secret
log() { printf 'ensure-postgres: %s\n' "$*" >&2; }

if ! command -v pg_createcluster >/dev/null; then
  log "installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq postgresql >/dev/null
fi
version=$(ls /usr/lib/postgresql | sort -n | tail -1)

if ! pg_lsclusters -h | awk '{print $2}' | grep -qx "$cluster"; then
  log "creating cluster $version/$cluster on port $port"
  pg_createcluster "$version" "$cluster" -p "$port" >/dev/null
  # Loopback only; durability is irrelevant for a test server and costs time.
  cat >"/etc/postgresql/$version/$cluster/conf.d/webapp-test.conf" <<'CONF'
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
fi
if ! pg_lsclusters -h | awk -v c="$cluster" '$2 == c {print $4}' | grep -qx online; then
  pg_ctlcluster "$version" "$cluster" start 9>&-  # the server must not hold the lock
fi
port=$(pg_lsclusters -h | awk -v c="$cluster" '$2 == c {print $3}')

for _ in $(seq 1 30); do
  su postgres -c "psql -p $port -qtAc 'select 1'" >/dev/null 2>&1 && break
  sleep 0.5
done
su postgres -c "psql -p $port -qtA" >/dev/null <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$role') THEN
    CREATE ROLE $role LOGIN CREATEDB PASSWORD '$password';
  END IF;
END \$\$;
SQL
if ! su postgres -c "psql -p $port -qtAc \"select 1 from pg_database where datname = '$role'\"" | grep -q 1; then
  su postgres -c "createdb -p $port -O $role $role"
fi
echo "postgresql+psycopg://$role:$password@127.0.0.1:$port/$role"

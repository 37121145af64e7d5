#!/bin/sh
# First start: a cluster with the master user and database named by POSTGRES_USER and POSTGRES_DB,
# its password read from the file POSTGRES_PASSWORD_FILE (never from the environment, so `docker
# inspect` does not show it). Every start: the server in the foreground, listening on the network.
set -eu
: "${POSTGRES_USER:?}" "${POSTGRES_DB:?}" "${POSTGRES_PASSWORD_FILE:?}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  # initdb takes the superuser's password from a file: the bootstrap superuser is the master user.
  cat "$POSTGRES_PASSWORD_FILE" >"$pwfile"
  initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  {
    echo "listen_addresses = '*'"
    echo "password_encryption = 'scram-sha-256'"
    # A rehearsal server: durability is not what it stands in for, and fsync costs the test time.
    echo "fsync = ${POSTGRES_FSYNC:-on}"
  } >>"$PGDATA/postgresql.conf"
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  PGPASSWORD=$(cat "$POSTGRES_PASSWORD_FILE") && export PGPASSWORD
  pg_ctl --pgdata="$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  createdb --username="$POSTGRES_USER" --owner="$POSTGRES_USER" "$POSTGRES_DB"
  pg_ctl --pgdata="$PGDATA" -m fast -w stop >/dev/null
  unset PGPASSWORD
fi
exec postgres -D "$PGDATA"

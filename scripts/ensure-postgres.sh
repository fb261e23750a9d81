#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 with a database `test` (trust auth).
# Installs the server from Debian's packages when the machine has none, starts the cluster
# when it is down. Used by `make test`; harmless when PostgreSQL is already up.
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if ! psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
  (psql -h 127.0.0.1 -U postgres -c 'create database test' >/dev/null 2>&1) ||
    (su postgres -c "createdb test" && su postgres -c "psql -c \"alter user postgres with password null\"" >/dev/null)
fi

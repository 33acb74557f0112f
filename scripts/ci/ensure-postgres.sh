#!/usr/bin/env bash
# The store tests start a throwaway PostgreSQL server themselves (test/store/postgres.ts): they need the server
# binaries (initdb, pg_ctl). Install Debian's postgresql if they are missing; never start a server here.
set -euo pipefail
have() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && return 0
  done
  return 1
}
if have; then
  echo "ensure-postgres: PostgreSQL server binaries present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "ensure-postgres: installing Debian's postgresql"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
# Debian starts a cluster on install where it can; the tests do not use it.
$SUDO service postgresql stop >/dev/null 2>&1 || true
have || { echo "ensure-postgres: postgresql installed but initdb/pg_ctl not found" >&2; exit 1; }
echo "ensure-postgres: installed"

#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the sweep tests, no system service: initdb + pg_ctl in a
# fresh temp folder (as the postgres user when run as root), on 127.0.0.1:PORT with trust auth.
# Needs the Debian package postgresql. Prints the URL for the tests on stdout:
#     export PUFFER_TEST_POSTGRES_URL=$(scripts/start_test_postgres.sh [PORT])
# and on stderr the folder and the command that stops the server.
set -euo pipefail
port=${1:-55432}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "start_test_postgres: no PostgreSQL server found (apt-get install postgresql)" >&2
  exit 1
fi
dir=$(mktemp -d /tmp/puffer_pg.XXXXXX)
as=()
if [ "$(id -u)" = 0 ]; then  # initdb refuses to run as root
  chown postgres: "$dir"
  as=(runuser -u postgres --)
fi
"${as[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust >"$dir/initdb.log"
"${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
echo "start_test_postgres: server in $dir; stop it with: ${as[*]} $bindir/pg_ctl -D $dir/data stop" >&2
echo "postgresql://postgres@127.0.0.1:$port/postgres"

#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL server: `scripts/with-postgres.sh CMD…`.
#
# Uses the system's PostgreSQL binaries (Debian's postgresql-15, installed with apt when missing
# and we are root): initdb into a temp folder, serve on a free loopback port (trust auth, the
# socket in the temp folder too), create the `portal` database, export DATABASE_URL, run CMD,
# then stop the server and delete the folder, whatever CMD did. Exits with CMD's status.
# PostgreSQL refuses to run as root, so as root it runs as the `postgres` user (created if missing).
set -euo pipefail

find_bindir() {
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return; }
  done
  if command -v pg_config >/dev/null 2>&1; then
    dir="$(pg_config --bindir)"
    [ -x "$dir/initdb" ] && { echo "$dir"; return; }
  fi
  return 1
}

if ! bindir="$(find_bindir)"; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing postgresql (apt)…" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null 2>&1 || true
  fi
  if ! bindir="$(find_bindir)"; then
    if [ "${PORTAL_SYSTEM_PACKAGES:-}" = required ]; then
      echo "error: PostgreSQL server binaries not found, though this machine can install them" >&2
      exit 1
    fi
    echo "skipped: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
    exit 0
  fi
fi

as_db_user=()
if [ "$(id -u)" -eq 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
  as_db_user=(runuser -u postgres --)
fi

folder="$(mktemp -d -t portal-pg-XXXXXX)"
chmod 755 "$folder"
mkdir "$folder/data" "$folder/socket"
[ ${#as_db_user[@]} -gt 0 ] && chown -R postgres: "$folder"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

stop() {
  "${as_db_user[@]}" "$bindir/pg_ctl" -D "$folder/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$folder"
}
trap stop EXIT INT TERM

"${as_db_user[@]}" "$bindir/initdb" -D "$folder/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
  >"$folder/initdb.log" 2>&1 || { cat "$folder/initdb.log" >&2; exit 1; }
# Throwaway data: durability off makes the suite's many commits cheap.
"${as_db_user[@]}" "$bindir/pg_ctl" -D "$folder/data" -l "$folder/server.log" -w -t 60 start \
  -o "-h 127.0.0.1 -p $port -k $folder/socket -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  >/dev/null || { cat "$folder/server.log" >&2; exit 1; }
"${as_db_user[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres portal

export DATABASE_URL="postgres://postgres@127.0.0.1:$port/portal"
echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
set +e
"$@"
status=$?
set -e
exit $status

#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests (and for trying several bot replicas locally).
#
#   scripts/postgres.sh start [DIR]   initdb into DIR (once), start it on 127.0.0.1, print the DSN
#   scripts/postgres.sh stop  [DIR]   stop it (the data stays in DIR; `rm -rf DIR` to drop it)
#   scripts/postgres.sh dsn   [DIR]   print the DSN of the running server
#
# DIR defaults to $PG_TEST_DIR or ${TMPDIR:-/tmp}/scalp-bot-postgres. The port is $PG_TEST_PORT,
# else a free one. The server trusts every local connection (user "postgres", no password)
# and runs with fsync off: it is for tests, never for real data.
#
# PostgreSQL refuses to run as root, so as root the server runs as the system user
# "postgres" (created by Debian's package; the script creates it if missing). The binaries
# are found on PATH, in $PG_BIN, or in /usr/lib/postgresql/*/bin; when they are missing and
# we are root on Debian, `start` installs them with apt-get (package postgresql), so a
# fresh machine needs nothing by hand (PG_TEST_INSTALL=0 forbids that).
set -euo pipefail

cmd=${1:-}
dir=${2:-${PG_TEST_DIR:-${TMPDIR:-/tmp}/scalp-bot-postgres}}
data="$dir/data"
run_user=postgres

die() { echo "postgres.sh: $*" >&2; exit 1; }

find_bin() {  # the directory holding initdb and pg_ctl (newest major version first)
    local d
    if [ -n "${PG_BIN:-}" ]; then
        [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] && { echo "$PG_BIN"; return 0; }
        return 1
    fi
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return 0
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
    done
    return 1
}

install_server() {
    [ "${PG_TEST_INSTALL:-1}" != 0 ] && [ -z "${PG_BIN:-}" ] && [ "$(id -u)" = 0 ] \
        && command -v apt-get >/dev/null 2>&1 \
        || die "PostgreSQL server binaries (initdb, pg_ctl) not found; install PostgreSQL >= 13"
    echo "postgres.sh: installing PostgreSQL (apt-get install postgresql)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
}

as_server_user() {  # run "$@" as the user that owns the cluster
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$run_user" -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

dsn_of() { echo "postgresql://postgres@127.0.0.1:$(cat "$dir/port")/postgres"; }

running() { [ -f "$data/postmaster.pid" ] && as_server_user "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

case "$cmd" in
    start|stop|dsn) ;;
    *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

bin=$(find_bin) || { [ "$cmd" = start ] && install_server && bin=$(find_bin); } \
    || die "PostgreSQL server binaries not found"

case "$cmd" in
start)
    if [ "$(id -u)" = 0 ] && ! id "$run_user" >/dev/null 2>&1; then
        useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin "$run_user"
    fi
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown "$run_user" "$dir"
    chmod 700 "$dir"
    if running; then dsn_of; exit 0; fi
    if [ ! -f "$data/PG_VERSION" ]; then
        as_server_user "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C \
            --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    fi
    port=${PG_TEST_PORT:-$(free_port)}
    echo "$port" >"$dir/port"
    as_server_user "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 -o "\
        -c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir' \
        -c max_connections=300 -c fsync=off -c synchronous_commit=off \
        -c full_page_writes=off" start >/dev/null \
        || { tail -n 30 "$dir/server.log" >&2; die "the server did not start"; }
    dsn_of
    ;;
stop)
    if running; then
        as_server_user "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
    fi
    ;;
dsn)
    running || die "no server running in $dir"
    dsn_of
    ;;
esac

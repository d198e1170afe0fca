#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL 15 server for the sync tests.
#
#   bash scripts/pg-test-server.sh start [STATE_FILE]   # prints postgresql://...  on stdout
#   bash scripts/pg-test-server.sh stop  [STATE_FILE]   # stops it and removes its data directory
#   bash scripts/pg-test-server.sh url   [STATE_FILE]   # prints the URL of the running server
#
# The server lives in a fresh temporary directory, listens on 127.0.0.1 on a free port, trusts
# local connections (it holds only test data and dies with the test run) and runs as the
# `postgres` user when started by root, because PostgreSQL refuses to run as root.
# When no PostgreSQL binaries are found, Debian's `postgresql` package is installed with apt-get.
# All progress goes to stderr; stdout carries only the URL.
set -euo pipefail

MODE="${1:-}"
STATE_FILE="${2:-${D365LEADS_PG_STATE:-${TMPDIR:-/tmp}/d365leads-pg-test.state}}"
DB_NAME="d365leads_test"

log() { echo "pg-test-server: $*" >&2; }

find_bindir() {
    local dir
    if command -v pg_config >/dev/null 2>&1; then
        dir="$(pg_config --bindir 2>/dev/null || true)"
        if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    fi
    for dir in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin /usr/local/pgsql/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            echo "$dir"
            return 0
        fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return 0
    fi
    return 1
}

install_postgres() {
    if ! command -v apt-get >/dev/null 2>&1; then
        log "no PostgreSQL binaries and no apt-get to install them"
        return 1
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
            log "no PostgreSQL binaries; installing them needs root"
            return 1
        fi
    fi
    log "installing Debian's postgresql package with apt-get"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
}

free_port() {
    python3 - <<'PY'
import socket
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
PY
}

# Run a command as the server's owner: `postgres` when we are root, ourselves otherwise.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        if ! id postgres >/dev/null 2>&1; then
            log "creating the postgres system user"
            useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres >&2 \
                || adduser --system --group --home /var/lib/postgresql postgres >&2
        fi
        if command -v runuser >/dev/null 2>&1; then
            runuser -u postgres -- "$@"
        else
            su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
        fi
    else
        "$@"
    fi
}

start() {
    if [ -f "$STATE_FILE" ]; then
        # shellcheck disable=SC1090
        . "$STATE_FILE"
        if [ -n "${PGDATA_DIR:-}" ] && as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
            log "already running (state in $STATE_FILE)"
            echo "$PG_URL"
            return 0
        fi
        rm -f "$STATE_FILE"
    fi
    local bindir
    if ! bindir="$(find_bindir)"; then
        install_postgres
        bindir="$(find_bindir)" || { log "PostgreSQL binaries still not found"; return 1; }
    fi
    local root port
    root="$(mktemp -d "${TMPDIR:-/tmp}/d365leads-pg.XXXXXX")"
    chmod 755 "$root"
    mkdir -p "$root/data" "$root/socket"
    if [ "$(id -u)" -eq 0 ]; then
        as_owner true  # makes sure the user exists
        chown -R postgres: "$root"
    fi
    log "initdb in $root/data ($bindir)"
    as_owner "$bindir/initdb" -D "$root/data" -U postgres --auth=trust -E UTF8 --no-locale >"$root/initdb.log" 2>&1 \
        || { cat "$root/initdb.log" >&2; return 1; }
    port="$(free_port)"
    as_owner "$bindir/pg_ctl" -D "$root/data" -l "$root/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $root/socket -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >&2 || { cat "$root/server.log" >&2; return 1; }
    as_owner "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
        -c "CREATE DATABASE $DB_NAME" >&2
    local url="postgresql://postgres@127.0.0.1:$port/$DB_NAME"
    {
        echo "BINDIR='$bindir'"
        echo "PGROOT='$root'"
        echo "PGDATA_DIR='$root/data'"
        echo "PG_URL='$url'"
    } >"$STATE_FILE"
    log "running on port $port (state in $STATE_FILE)"
    echo "$url"
}

stop() {
    if [ ! -f "$STATE_FILE" ]; then
        log "nothing to stop (no $STATE_FILE)"
        return 0
    fi
    # shellcheck disable=SC1090
    . "$STATE_FILE"
    as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >&2 || true
    case "$PGROOT" in
        */d365leads-pg.*) rm -rf "$PGROOT" ;;
    esac
    rm -f "$STATE_FILE"
    log "stopped"
}

case "$MODE" in
    start) start ;;
    stop) stop ;;
    url)
        # shellcheck disable=SC1090
        . "$STATE_FILE" && echo "$PG_URL"
        ;;
    *)
        echo "usage: $0 start|stop|url [STATE_FILE]" >&2
        exit 2
        ;;
esac

#!/usr/bin/env bash
# Start a PostgreSQL 15 primary and a streaming hot standby on 127.0.0.1 (idempotent), from
# a fresh initdb; the machine's own server on 5432 is not involved. Prints the primary URL,
# then the standby URL, on stdout once the standby is in recovery and the primary reports
# it `streaming`; progress goes to stderr.
#
#   PG_PRIMARY_PORT     default 5441
#   PG_STANDBY_PORT     default 5442
#   PG_BIN              PostgreSQL binaries (default /usr/lib/postgresql/15/bin)
#   PG_REPLICA_TIMEOUT  seconds each step may take (default 60)
set -euo pipefail
SETUP_NAME=pg-replica
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$HERE/lib.sh"

PPORT=${PG_PRIMARY_PORT:-5441}
SPORT=${PG_STANDBY_PORT:-5442}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
TIMEOUT=${PG_REPLICA_TIMEOUT:-60}

need_cmd "$PG_BIN/pg_ctl" postgresql-15
need_cmd psql postgresql-client-15

take_lock pg-replica
DIR=$(setup_dir pg-replica)
cd "$DIR" # the postgres user must be able to read its working directory
SVC_USER=$(id -un)
is_root && SVC_USER=postgres
reachable_by "$SVC_USER" "$DIR"
PRIMARY="$DIR/primary"
STANDBY="$DIR/standby"
SOCK="$DIR/sock"
LOGS="$DIR/log" # owned by the service user: pg_ctl -l writes there as postgres

pg() { run_as "$SVC_USER" "$PG_BIN/$1" "${@:2}"; }
sql() { psql -X -h 127.0.0.1 -p "$1" -U postgres -d postgres -Atq -v ON_ERROR_STOP=1 -c "$2"; }
running() { pidfile_alive "$1/postmaster.pid" "$1"; }
streaming() {
    [ "$(sql "$PPORT" "SELECT count(*) FROM pg_stat_replication WHERE application_name = 'standby' AND state = 'streaming'")" = 1 ]
}
healthy() {
    running "$PRIMARY" && running "$STANDBY" &&
        [ "$(sql "$PPORT" 'SELECT pg_is_in_recovery()')" = f ] &&
        [ "$(sql "$SPORT" 'SELECT pg_is_in_recovery()')" = t ] &&
        streaming
}
print_urls() {
    echo "postgres://postgres@127.0.0.1:$PPORT/test"
    echo "postgres://postgres@127.0.0.1:$SPORT/test"
}
stop_one() { # stop_one DATADIR NAME : pg_ctl stop, then SIGQUIT / SIGKILL the recorded pid
    local d=$1 pid
    running "$d" || return 0
    pid=$(pidfile_pid "$d/postmaster.pid")
    log "$2: pg_ctl stop -m fast (pid $pid)"
    pg pg_ctl -D "$d" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    if running "$d"; then
        log "$2: still running, SIGQUIT pid $pid"
        kill -QUIT "$pid" 2>/dev/null || true
        sleep 1
    fi
    if running "$d"; then kill -KILL "$pid" 2>/dev/null || true; fi
}
on_fail() {
    log "stopping the servers this run started; logs: $LOGS"
    stop_one "$STANDBY" standby
    stop_one "$PRIMARY" primary
}
fail_with_log() { # fail_with_log LOGFILE MESSAGE
    tail -n 20 "$1" >&2 2>/dev/null || true
    die "$2 (log: $1)"
}

if healthy 2>/dev/null; then
    log "already up (data in $DIR)"
    print_urls
    exit 0
fi
stop_one "$STANDBY" standby # a half-started earlier run
stop_one "$PRIMARY" primary
rm -rf "$PRIMARY" "$STANDBY" "$SOCK" "$LOGS"
check_ports_free "$PPORT" "$SPORT"

mkdir -p "$PRIMARY" "$STANDBY" "$SOCK" "$LOGS"
chmod 0700 "$PRIMARY" "$STANDBY"
is_root && chown "$SVC_USER:" "$PRIMARY" "$STANDBY" "$SOCK" "$LOGS"

log "initdb primary in $PRIMARY"
pg initdb -D "$PRIMARY" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$LOGS/initdb.log" 2>&1 ||
    fail_with_log "$LOGS/initdb.log" "initdb failed"
# initdb's pg_hba.conf (auth=trust) already has `host replication all 127.0.0.1/32 trust`.
cat >>"$PRIMARY/postgresql.conf" <<CONF

# --- strata test primary (pg-replica-up.sh) ---
listen_addresses = '127.0.0.1'
port = $PPORT
unix_socket_directories = '$SOCK'
wal_level = replica
max_wal_senders = 5
max_replication_slots = 5
hot_standby = on
shared_buffers = 32MB
logging_collector = off
CONF

log "starting primary on 127.0.0.1:$PPORT"
pg pg_ctl -D "$PRIMARY" -l "$LOGS/primary.log" -w -t "$TIMEOUT" start >/dev/null 9>&- ||
    fail_with_log "$LOGS/primary.log" "primary did not start within ${TIMEOUT}s"
sql "$PPORT" "CREATE DATABASE test" >/dev/null || die "CREATE DATABASE test on the primary failed"

log "pg_basebackup -R into $STANDBY"
pg pg_basebackup -h 127.0.0.1 -p "$PPORT" -U postgres -D "$STANDBY" -R -X stream -c fast \
    -C -S strata_standby -d "application_name=standby" >"$LOGS/basebackup.log" 2>&1 ||
    fail_with_log "$LOGS/basebackup.log" "pg_basebackup failed"
printf '\n# --- strata test standby (pg-replica-up.sh) ---\nport = %s\n' "$SPORT" >>"$STANDBY/postgresql.conf"

log "starting standby on 127.0.0.1:$SPORT"
pg pg_ctl -D "$STANDBY" -l "$LOGS/standby.log" -w -t "$TIMEOUT" start >/dev/null 9>&- ||
    fail_with_log "$LOGS/standby.log" "standby did not start within ${TIMEOUT}s"

wait_for "$TIMEOUT" streaming ||
    fail_with_log "$LOGS/standby.log" "the primary does not report the standby as streaming after ${TIMEOUT}s"
[ "$(sql "$SPORT" 'SELECT pg_is_in_recovery()')" = t ] ||
    fail_with_log "$LOGS/standby.log" "the standby on port $SPORT is not in recovery"

log "up in $(elapsed)s: standby streaming from the primary; data in $DIR"
print_urls

#!/usr/bin/env bash
# Stop the primary and standby started by pg-replica-up.sh and delete their directory
# (idempotent). Stops only the postmasters named in the two data directories'
# postmaster.pid files, after checking their command lines.
set -euo pipefail
SETUP_NAME=pg-replica
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$HERE/lib.sh"

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

take_lock pg-replica
DIR=$(known_dir pg-replica)
if [ -z "$DIR" ]; then
    log "not running (nothing remembered in $CLUSTER_STATE_DIR)"
    exit 0
fi
cd "$DIR"
SVC_USER=$(id -un)
is_root && SVC_USER=postgres

for name in standby primary; do
    d="$DIR/$name"
    pidfile_alive "$d/postmaster.pid" "$d" || continue
    pid=$(pidfile_pid "$d/postmaster.pid")
    log "$name: pg_ctl stop -m fast (pid $pid)"
    run_as "$SVC_USER" "$PG_BIN/pg_ctl" -D "$d" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    if pidfile_alive "$d/postmaster.pid" "$d"; then
        log "$name: still running after 30 s, SIGQUIT then SIGKILL pid $pid"
        kill -QUIT "$pid" 2>/dev/null || true
        sleep 2
        if pid_matches "$pid" "$d"; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
done

cd /
forget_dir pg-replica "$DIR"
log "down"

#!/usr/bin/env bash
# Stop the pgbouncer started by pgbouncer-up.sh and delete its directory (idempotent).
# Signals only the pid recorded at start-up, after checking its command line.
set -euo pipefail
SETUP_NAME=pgbouncer
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$HERE/lib.sh"

take_lock pgbouncer
DIR=$(known_dir pgbouncer)
if [ -z "$DIR" ]; then
    log "not running (nothing remembered in $CLUSTER_STATE_DIR)"
    exit 0
fi
# SIGTERM: immediate shutdown (SIGINT would wait for the clients).
stop_pidfile "$DIR/pgbouncer.launch.pid" "$DIR/pgbouncer.ini" 10 pgbouncer
forget_dir pgbouncer "$DIR"
log "down"

#!/usr/bin/env bash
# Stop the Galera cluster started by galera-up.sh and delete its directory (idempotent).
# Stops only the mariadbd processes named in its own pid files, after checking their
# command lines.
set -euo pipefail
SETUP_NAME=galera
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=SCRIPTDIR/lib.sh
. "$HERE/lib.sh"

take_lock galera
DIR=$(known_dir galera)
if [ -z "$DIR" ]; then
    log "not running (nothing remembered in $CLUSTER_STATE_DIR)"
    exit 0
fi
# All nodes at once: the data is thrown away, so no ordered shutdown is needed.
for d in "$DIR"/node*/; do
    signal_pidfile "${d}mariadbd.launch.pid" "${d}my.cnf" TERM "$(basename "$d")"
done
for d in "$DIR"/node*/; do
    await_pidfile "${d}mariadbd.launch.pid" "${d}my.cnf" 60 "$(basename "$d")"
done
forget_dir galera "$DIR"
log "down"

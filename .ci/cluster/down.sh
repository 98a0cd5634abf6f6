#!/usr/bin/env bash
# Stop the three setups started by up.sh and delete their files (idempotent; each *-down.sh
# stops only the processes its *-up.sh recorded). Exits 1 if any of them failed.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rc=0
for s in galera pg-replica pgbouncer; do
    bash "$HERE/$s-down.sh" >&2 || rc=1
done
exit "$rc"

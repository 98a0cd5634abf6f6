#!/usr/bin/env bash
# Start the three throw-away setups in parallel (PgBouncer on 6432, a PostgreSQL primary and
# hot standby on 5441/5442, a 3-node Galera cluster on 3311-3313) and print, for `eval`, the
# variables the tests read:
#
#   eval "$(bash .ci/cluster/up.sh)" && cargo test ...; bash .ci/cluster/down.sh
#
# Progress goes to stderr. If any setup fails to start, all three are stopped and it exits 1.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SETUPS=(pgbouncer pg-replica galera)
t0=$(date +%s.%N)
out=$(mktemp -d "${TMPDIR:-/tmp}/strata-cluster-up.XXXXXX")
trap 'rm -rf "$out"' EXIT

declare -A pids
for s in "${SETUPS[@]}"; do
    bash "$HERE/$s-up.sh" >"$out/$s" &
    pids[$s]=$!
done
failed=()
for s in "${SETUPS[@]}"; do
    wait "${pids[$s]}" || failed+=("$s")
done
pgbouncer=$(cat "$out/pgbouncer")
primary=$(sed -n 1p "$out/pg-replica")
standby=$(sed -n 2p "$out/pg-replica")
galera=$(paste -sd, "$out/galera")
if [ ${#failed[@]} -eq 0 ] && { [ -z "$pgbouncer" ] || [ -z "$primary" ] || [ -z "$standby" ] || [ "$(wc -l <"$out/galera")" -ne 3 ]; }; then
    failed=("(missing URLs)")
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "[cluster] ERROR: could not start: ${failed[*]}; stopping all three setups" >&2
    bash "$HERE/down.sh" || true
    exit 1
fi
printf '[cluster] all up in %s s\n' "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" >&2
printf 'export %s=%s\n' \
    STRATA_TEST_PGBOUNCER_URL "${pgbouncer@Q}" \
    STRATA_TEST_PRIMARY_URL "${primary@Q}" \
    STRATA_TEST_STANDBY_URL "${standby@Q}" \
    STRATA_TEST_GALERA_URLS "${galera@Q}"

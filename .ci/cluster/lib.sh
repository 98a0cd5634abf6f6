# shellcheck shell=bash
# Helpers shared by the *-up.sh / *-down.sh scripts in this folder (sourced, bash only).
#
# Each setup keeps all its files (config, data, logs, sockets, pid files) in one fresh
# `mktemp -d` directory, ${TMPDIR:-/tmp}/strata-<setup>.XXXXXX, marked by a `.strata-cluster`
# file. Its path is remembered in $CLUSTER_STATE_DIR/<setup>.dir (default
# ${TMPDIR:-/tmp}/strata-cluster-<uid>, which also holds the lock files), so that `down`,
# and an `up` after a crashed run, find it. Only a directory with the marker is ever deleted.
#
# Processes are stopped only through the pid files written when they were started, and only
# after /proc/<pid>/cmdline is checked to still name the setup's directory: a recycled pid is
# never signalled, nothing is killed by name, and the machine's own servers (PostgreSQL on
# 5432, MariaDB on 3306) are never touched.

set -o pipefail

CLUSTER_STATE_DIR="${CLUSTER_STATE_DIR:-${TMPDIR:-/tmp}/strata-cluster-$(id -u)}"
MARKER=.strata-cluster
_t0=$(date +%s.%N)

log() { printf '[%s] %s\n' "${SETUP_NAME:-cluster}" "$*" >&2; }
die() {
    printf '[%s] ERROR: %s\n' "${SETUP_NAME:-cluster}" "$*" >&2
    # A script may define on_fail: stop what this run started, keep the logs.
    if declare -F on_fail >/dev/null && [ -z "${_in_on_fail:-}" ]; then
        _in_on_fail=1
        on_fail || true
    fi
    exit 1
}
elapsed() { awk -v a="$_t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# run_as USER CMD... : run CMD as USER when we are root, else as ourselves.
run_as() {
    local user=$1
    shift
    if is_root && [ "$user" != root ]; then
        runuser -u "$user" -- "$@"
    else
        "$@"
    fi
}

have() { # have NAME-OR-PATH
    case "$1" in
    */*) [ -e "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 ;;
    esac
}

state_dir() { # create $CLUSTER_STATE_DIR; refuse one that is a symlink or someone else's
    mkdir -p "$CLUSTER_STATE_DIR" || die "cannot create $CLUSTER_STATE_DIR"
    if [ -L "$CLUSTER_STATE_DIR" ] || [ ! -O "$CLUSTER_STATE_DIR" ]; then
        die "$CLUSTER_STATE_DIR is a symlink or not owned by $(id -un); refusing to use it"
    fi
}

# need_cmd BINARY-OR-PATH DEBIAN_PACKAGE : apt-get install the package when BINARY is missing.
# The setups start in parallel, so apt-get runs under a lock, one install at a time.
need_cmd() {
    local bin=$1 pkg=$2
    have "$bin" && return 0
    is_root || die "'$bin' is missing: install the Debian package $pkg (apt-get install $pkg)"
    state_dir
    log "'$bin' is missing: apt-get install -y $pkg"
    (
        flock -w 600 8 || exit 1
        have "$bin" && exit 0
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q "$pkg" >/dev/null 2>&1 && exit 0
        apt-get update -q >/dev/null 2>&1 || true
        apt-get install -y -q "$pkg" >/dev/null
    ) 8>"$CLUSTER_STATE_DIR/apt.lock" 9>&- || die "apt-get install $pkg failed"
    have "$bin" || die "'$bin' is still missing after installing $pkg"
}

# One lock per setup, so that concurrent up/down runs of one setup wait for each other.
# The lock is fd 9: every daemon started while holding it must get `9>&-`, or it inherits
# the lock and the next up/down waits forever.
take_lock() {
    state_dir
    exec 9>"$CLUSTER_STATE_DIR/$1.lock"
    flock -w 300 9 || die "could not take the lock $CLUSTER_STATE_DIR/$1.lock within 300 s"
}

known_dir() { # known_dir SETUP : the remembered directory, if it still exists with its marker
    local ptr="$CLUSTER_STATE_DIR/$1.dir" dir
    [ -s "$ptr" ] || return 0
    dir=$(cat "$ptr")
    if [ -f "$dir/$MARKER" ]; then echo "$dir"; fi
}

setup_dir() { # setup_dir SETUP : the remembered directory, else a new one (remembered)
    local dir
    dir=$(known_dir "$1")
    if [ -z "$dir" ]; then
        dir=$(mktemp -d "${TMPDIR:-/tmp}/strata-$1.XXXXXX") || die "mktemp failed"
        touch "$dir/$MARKER"
        echo "$dir" >"$CLUSTER_STATE_DIR/$1.dir"
    fi
    chmod 0755 "$dir" # the service users (postgres, mysql) work in it
    echo "$dir"
}

forget_dir() { # forget_dir SETUP DIR : delete DIR (only with its marker) and the pointer
    [ -f "$2/$MARKER" ] && rm -rf "$2" && log "removed $2"
    rm -f "$CLUSTER_STATE_DIR/$1.dir"
}

reachable_by() { # reachable_by USER DIR : USER can enter DIR (not so under a 0700 TMPDIR)
    run_as "$1" test -x "$2" ||
        die "user $1 cannot enter $2; point TMPDIR at a directory every user can traverse"
}

# pid_matches PID TOKEN : process PID exists and its command line contains TOKEN.
pid_matches() {
    [[ "$1" =~ ^[0-9]+$ ]] || return 1
    [ -r "/proc/$1/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

pidfile_pid() { head -n1 "$1" 2>/dev/null | tr -d ' \r\n'; }

# pidfile_alive PIDFILE TOKEN : the pid on PIDFILE's first line is alive and ours.
pidfile_alive() { [ -s "$1" ] && pid_matches "$(pidfile_pid "$1")" "$2"; }

# signal_pidfile PIDFILE TOKEN SIGNAL NAME : signal the recorded pid if it is alive and ours.
signal_pidfile() {
    local pid
    pidfile_alive "$1" "$2" || return 0
    pid=$(pidfile_pid "$1")
    log "$4: SIG$3 pid $pid"
    kill -"$3" "$pid" 2>/dev/null || true
}

# await_pidfile PIDFILE TOKEN TIMEOUT NAME : wait for the recorded pid to exit, SIGKILL it
# (if still ours) after TIMEOUT seconds, then remove the pid file.
await_pidfile() {
    local pid i
    [ -s "$1" ] || return 0
    pid=$(pidfile_pid "$1")
    for ((i = 0; i < $3 * 10; i++)); do
        pid_matches "$pid" "$2" || break
        sleep 0.1
    done
    if pid_matches "$pid" "$2"; then
        log "$4: still running after $3 s, SIGKILL pid $pid"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$1"
}

stop_pidfile() { # stop_pidfile PIDFILE TOKEN TIMEOUT NAME : SIGTERM, wait, SIGKILL
    signal_pidfile "$1" "$2" TERM "$4"
    await_pidfile "$@"
}

check_ports_free() { # check_ports_free PORT... : nothing listens on any of them
    local p
    for p in "$@"; do
        if ss -Hltn "( sport = :$p )" 2>/dev/null | grep -q .; then
            die "port $p is already in use: $(ss -Hltnp "( sport = :$p )" 2>/dev/null)"
        fi
    done
}

# wait_for TIMEOUT CMD... : poll CMD every 0.2 s until it succeeds; 1 on timeout.
wait_for() {
    local deadline
    deadline=$(($(date +%s) + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

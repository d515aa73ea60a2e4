# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Shared shell helpers for the test suites: TAP output, environment checks, a private broker.
#
# Environment (set by meson test, see tests/meson.build):
#   UFFD_SHIMD, UFFD_SHIMCTL, UFFD_SHIM_HOOK, UFFD_SHIM_PRELOAD, UFFD_SHIM_LIB,
#   UFFD_PROBE               built artifacts (require_built checks them)
#   UFFD_SHIM_REQUIRE_ALL=1  a missing environment fails instead of skipping (CI)

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_tap_n=0
_tap_failed=0
_tap_on_fail=
_cleanups=()

tap_plan() { echo "1..$1"; }
ok() { _tap_n=$((_tap_n + 1)); echo "ok $_tap_n - $*"; }
not_ok() {
    _tap_n=$((_tap_n + 1)); _tap_failed=$((_tap_failed + 1)); echo "not ok $_tap_n - $*"
    [ -z "$_tap_on_fail" ] || eval "$_tap_on_fail" || true
}
# tap_on_fail CMD: run CMD after every "not ok" (to show what the failed check looked at).
tap_on_fail() { _tap_on_fail=$*; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }
# check DESCRIPTION COMMAND...: ok if the command succeeds.
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
tap_done() { [ "$_tap_failed" -eq 0 ]; exit $?; }
# tap_end: print the plan after the tests (when their number is not known up front) and exit.
tap_end() { echo "1..$_tap_n"; tap_done; }

# skip_all REASON: the environment cannot run this test.
skip_all() {
    if [ "${UFFD_SHIM_REQUIRE_ALL:-0}" = 1 ]; then
        echo "1..1"
        echo "not ok 1 - environment missing (UFFD_SHIM_REQUIRE_ALL=1): $*"
        exit 1
    fi
    # meson (1.0) counts a TAP plan of 1..0 with a SKIP directive as skipped;
    # exit status 77 would be an error under protocol 'tap'.
    echo "1..0 # SKIP $*"
    exit 0
}

require_root() { [ "$(id -u)" = 0 ] || skip_all "needs root"; }
require_cmd() { local c; for c in "$@"; do command -v "$c" >/dev/null 2>&1 || skip_all "needs $c"; done; }
# require_built VAR...: each VAR names a built artifact (meson test sets them, tests/meson.build).
require_built() {
    local v
    for v in "$@"; do
        [ -n "${!v:-}" ] && [ -e "${!v}" ] || skip_all "needs $v, a built artifact (run from meson test)"
    done
}
require_device() { [ -c /dev/userfaultfd ] || skip_all "needs /dev/userfaultfd (Linux >= 6.1)"; }

knob() { cat /proc/sys/vm/unprivileged_userfaultfd; }
require_knob_zero() {
    [ "$(knob)" = 0 ] || { echo "1..1"; echo "not ok 1 - vm.unprivileged_userfaultfd is $(knob), the tests need 0"; exit 1; }
}

on_exit() { _cleanups+=("$*"); }
_run_cleanups() {
    local i
    for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do eval "${_cleanups[i]}" || true; done
}
trap _run_cleanups EXIT

# A world-readable scratch directory (the unprivileged test users read from it).
make_workdir() {
    WORK=$(mktemp -d /tmp/uffd-shim-test.XXXXXX)
    chmod 0755 "$WORK"
    on_exit "rm -rf '$WORK'"
}

# stop_pid PID [TIMEOUT_S]: TERM, wait, then KILL. Only ever by pid.
stop_pid() {
    local pid=$1 t=${2:-5} i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < t * 10; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

# write_broker_config FILE KEY=VALUE-lines...: a config for a private broker in $WORK.
write_broker_config() {
    local f=$1; shift
    mkdir -p "$WORK/run" "$WORK/libvirt"
    chmod 0755 "$WORK/run" "$WORK/libvirt"
    {
        echo "[broker]"
        echo "socket=$WORK/run/uffd.sock"
        echo "admin-socket=$WORK/run/admin.sock"
        echo "state-dir=$WORK/run"
        echo "client-timeout-ms=${BROKER_TIMEOUT_MS:-1000}"
        echo "[qemu]"
        echo "user=${BROKER_QEMU_UID:-64055}"
        echo "libvirt-run-dir=$WORK/libvirt"
        echo "emulators=${BROKER_EMULATORS:-$UFFD_PROBE}"
        echo "[grants]"
        echo "lifetime=${BROKER_LIFETIME:-600}"
        echo "uses=${BROKER_USES:-8}"
        local l; for l in "$@"; do echo "$l"; done
    } > "$f"
}

# start_broker CONFIG: starts uffd-shimd in the background, waits until it
# answers on its admin socket (it listens on the client socket before that).
# With BROKER_NOFILE=SOFT:HARD it runs under that open-file limit (prlimit).
start_broker() {
    BROKER_CONFIG=$1
    BROKER_LOG=${BROKER_LOG:-$WORK/broker.log}
    if [ -n "${BROKER_NOFILE:-}" ]; then
        prlimit --nofile="$BROKER_NOFILE" -- "$UFFD_SHIMD" --config "$BROKER_CONFIG" >>"$BROKER_LOG" 2>&1 &
    else
        "$UFFD_SHIMD" --config "$BROKER_CONFIG" >>"$BROKER_LOG" 2>&1 &
    fi
    BROKER_PID=$!
    on_exit "stop_pid $BROKER_PID"
    local i
    for ((i = 0; i < 100; i++)); do
        "$UFFD_SHIMCTL" --config "$BROKER_CONFIG" status >/dev/null 2>&1 && return 0
        kill -0 "$BROKER_PID" 2>/dev/null || break
        sleep 0.05
    done
    diag "broker did not start:" "$(cat "$BROKER_LOG")"
    return 1
}

ctl() { "$UFFD_SHIMCTL" --config "$BROKER_CONFIG" "$@"; }
# active_grants: the private broker's active grants, a "NAME UUID" line each.
active_grants() { ctl grants | awk 'NR > 1 { print $1, $2 }'; }

# broker_ticks: the private broker's CPU time so far (user + system, clock ticks).
broker_ticks() { sed 's/^.*) //' "/proc/$BROKER_PID/stat" | awk '{ print $12 + $13 }'; }
# usage_mark, then usage_cpu (the broker's share of one core since the mark,
# in percent) and usage_log (lines its log grew by since the mark).
usage_mark() { _usage_t=$(broker_ticks); _usage_w=$(date +%s.%N); _usage_l=$(wc -l <"$BROKER_LOG"); }
usage_cpu() {
    awk -v t0="$_usage_t" -v t1="$(broker_ticks)" -v w0="$_usage_w" -v w1="$(date +%s.%N)" \
        -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", 100 * (t1 - t0) / hz / (w1 - w0) }'
}
usage_log() { echo $(($(wc -l <"$BROKER_LOG") - _usage_l)); }
# as_user UID CMD...: run CMD with that uid/gid and no privileges at all.
as_user() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups --inh-caps=-all --bounding-set=-all -- "$@"; }

# launched NAME UUID UID [launcher options] -- CMD...: run CMD the way libvirt
# runs QEMU (locked pid file and status XML in $WORK/libvirt, then uid UID).
launched() {
    local name=$1 uuid=$2 uid=$3 opts=()
    shift 3
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do opts+=("$1"); shift; done
    shift
    python3 "$TESTS_DIR/integration/fake-libvirt-launch.py" --run-dir "$WORK/libvirt" \
        --name "$name" --uuid "$uuid" --uid "$uid" "${opts[@]}" -- "$@"
}

# status_xml NAME UUID PID incoming|running: rewrite NAME's status XML in
# $WORK/libvirt the way libvirt does when the domain's state changes
# (incoming: receiving an incoming migration; running: the migration is over).
status_xml() {
    local inc=()
    [ "$4" = incoming ] || inc=(--not-incoming)
    python3 "$TESTS_DIR/integration/fake-libvirt-launch.py" --run-dir "$WORK/libvirt" \
        --name "$1" --uuid "$2" --uid 0 --status-pid "$3" --status-only "${inc[@]}"
}

# audit: the private broker's audit lines so far.
audit() { grep "audit: " "$BROKER_LOG" | sed 's/^.*audit: //'; }

# run_migration NAME DST_PREFIX [postcopy.py options]: one QMP postcopy
# migration of $WORK/guest.img with $QEMU under libvirt's sandbox (and the
# options in the array FW_OPTS, if set); its log is $WORK/NAME.log.
run_migration() {
    local name=$1 prefix=$2 rc
    shift 2
    mkdir -p "$WORK/$name"
    python3 "$TESTS_DIR/qmp/postcopy.py" --disk "$WORK/guest.img" --workdir "$WORK/$name" \
        --qemu "$QEMU" --sandbox --dst-prefix "$prefix" --json "$WORK/$name.json" \
        ${FW_OPTS[@]+"${FW_OPTS[@]}"} "$@" >"$WORK/$name.log" 2>&1
    rc=$?
    diag "$name: $(tail -n 1 "$WORK/$name.log")"
    [ $rc -eq 0 ] || sed 's/^/#   /' "$WORK/$name.log" | tail -n 25
    return $rc
}

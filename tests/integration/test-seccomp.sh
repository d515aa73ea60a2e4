#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The broker's seccomp allow-list: installed once serving, refuses what the broker never does, keeps it working.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_device
require_knob_zero
require_cmd python3 setpriv
make_workdir
QEMU_UID=64055
UUID1=6b1b7f5e-3c1d-4e0a-9a57-0c2f2b9c1a01
install -m 0755 "$UFFD_PROBE" "$WORK/probe"
BROKER_QEMU_UID=$QEMU_UID BROKER_EMULATORS="$WORK/probe" write_broker_config "$WORK/broker.conf"
export UFFD_SHIM_SOCKET="$WORK/run/uffd.sock"

# The filter itself, in a helper that installs exactly what the broker installs.
survives() { local out; out=$("$UFFD_SECCOMP_PROBE" "$1" 2>&1); [ $? = 0 ] && grep -q "^survived $1" <<<"$out"; }
killed() {
    local rc
    "$UFFD_SECCOMP_PROBE" "$1" >/dev/null 2>&1
    rc=$?
    [ $rc = $((128 + 31)) ] || { diag "$1: exit status $rc, expected 159 (SIGSYS)"; return 1; }
}
check "allowed: getpid, open of /proc, an AF_UNIX socket" \
    bash -c 'for c in getpid open-proc socket-unix; do "$1" $c | grep -q "^survived $c" || exit 1; done' _ "$UFFD_SECCOMP_PROBE"
for c in execve fork ptrace socket-inet mmap-exec kill-other setuid; do
    check "refused with SIGSYS (process killed): $c" killed "$c"
done

# The broker: filter active once serving, and it still does its whole job.
start_broker "$WORK/broker.conf" || { not_ok "broker starts"; tap_end; }
mode=${UFFD_SHIM_SECCOMP:-kill}
check "the broker runs under a seccomp filter (Seccomp: 2, mode $mode)" \
    bash -c 'grep -q "^Seccomp:[[:space:]]*2$" "$1" && grep -q "^Seccomp_filters:[[:space:]]*[1-9]" "$1"' _ "/proc/$BROKER_PID/status"
ctl grant dom1 $UUID1 --uses 2 >/dev/null
out=$(launched dom1 $UUID1 $QEMU_UID -- "$WORK/probe" library)
check "under the filter: a granted QEMU gets a working device" grep -q "^uffd: ok" <<<"$out"
out=$(setpriv --reuid=12345 --regid=12345 --clear-groups "$WORK/probe" library --no-fault 2>&1)
check "under the filter: another uid is denied (wrong-uid)" grep -q "reason 3:" <<<"$out"
python3 "$TESTS_DIR/integration/hostile-clients.py" "$WORK/run/uffd.sock" "$BROKER_PID" --rounds 100 >"$WORK/hostile.tap" 2>&1
check "under the filter: hostile clients are handled" bash -c '! grep -q "^not ok" "$1" && grep -q "^ok" "$1"' _ "$WORK/hostile.tap"
check "under the filter: grant, revoke and status work, the state file is written" \
    bash -c '"$1" --config "$2" grant dom2 $4 >/dev/null && grep -q "name=dom2" "$3" &&
             "$1" --config "$2" revoke dom2 >/dev/null && "$1" --config "$2" status >/dev/null' \
    _ "$UFFD_SHIMCTL" "$WORK/broker.conf" "$WORK/run/grants.state" "$UUID1"
check "the broker is still alive" kill -0 "$BROKER_PID"
kill -TERM "$BROKER_PID"
wait "$BROKER_PID"
rc=$?
check "under the filter: SIGTERM stops it cleanly (exit $rc)" \
    bash -c '[ "$1" = 0 ] && grep -q "stopping; grants are kept" "$2"' _ "$rc" "$BROKER_LOG"

out=$(UFFD_SHIM_SECCOMP=maybe "$UFFD_SHIMD" --config "$WORK/broker.conf" 2>&1)
rc=$?
check "an unknown UFFD_SHIM_SECCOMP value refuses to start" \
    bash -c '[ "$1" = 2 ] && grep -q "UFFD_SHIM_SECCOMP=maybe: expected kill, log or off" <<<"$2"' _ "$rc" "$out"
tap_end

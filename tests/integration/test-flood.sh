#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Connection floods at systemd's default fd limit: the broker keeps serving, stays idle, logs a summary.
#
# The broker runs with an open-file limit of 1024 that it cannot raise
# (systemd's default soft limit; the hard one here too). An unprivileged
# uid holds 2500 idle connections while a granted QEMU asks for its device,
# grants are made and revoked and the status is read. Then, with the limit
# lowered under the broker (prlimit --pid) until accept() finds no fd,
# root holds idle connections: the broker rests its listeners instead of
# spinning, and serves again once they are gone. Broker CPU (from
# /proc/PID/stat) and log volume are printed for both; the bounds asserted
# are generous (a busy loop is a whole core, a log line per connection
# thousands of lines).
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_device
require_cmd python3 setpriv prlimit
require_knob_zero

QEMU_UID=64055
OTHER_UID=12345
UUID1=6f1c2a9e-1111-4a7b-9c3d-0123456789ab
UUID2=6f1c2a9e-2222-4a7b-9c3d-0123456789ab
FLOOD=2500
make_workdir
install -m 0755 "$UFFD_PROBE" "$WORK/probe"
install -m 0644 "$TESTS_DIR/integration/flood-clients.py" "$WORK/flood-clients.py"
PY=$(readlink -f /usr/bin/python3)
BROKER_TIMEOUT_MS=2000 BROKER_QEMU_UID=$QEMU_UID BROKER_EMULATORS="$WORK/probe" \
    write_broker_config "$WORK/broker.conf"
export UFFD_SHIM_SOCKET="$WORK/run/uffd.sock"
BROKER_NOFILE=1024:1024 start_broker "$WORK/broker.conf" || { not_ok "broker starts"; tap_end; }
check "max-clients is lowered to fit the open-file limit of 1024, with a log line" \
    grep -q "max-clients 1024 lowered to [0-9]*: the open-file limit is 1024" "$BROKER_LOG"

# flood_start UID N: N idle connections of UID, held until flood_stop.
flood_start() {
    coproc FLOOD_P { prlimit --nofile=$(($2 + 256)) -- setpriv --reuid="$1" --regid="$1" --clear-groups \
        --inh-caps=-all -- "$PY" "$WORK/flood-clients.py" "$UFFD_SHIM_SOCKET" "$2"; }
    FLOOD_PID=$FLOOD_P_PID
    on_exit "stop_pid $FLOOD_PID"
    read -r -t 60 FLOOD_RESULT <&"${FLOOD_P[0]}" || FLOOD_RESULT="no result"
}
flood_stop() { eval "exec ${FLOOD_P[1]}>&-"; wait "$FLOOD_PID" 2>/dev/null; }

# --- 1. An unprivileged uid floods the client socket -------------------------
usage_mark
flood_start $OTHER_UID $FLOOD
diag "uid $OTHER_UID: $FLOOD_RESULT"
check "the flood is up: $FLOOD connections" grep -q "^connected=$FLOOD " <<<"$FLOOD_RESULT"
quiet() { "$@" >/dev/null; }
check "uffd-shimctl status answers during the flood" quiet ctl status
check "a GRANT answers during the flood" quiet ctl grant dom1 $UUID1
out=$(launched dom1 $UUID1 $QEMU_UID -- "$WORK/probe" library)
grep -q "kernel-fault: resolved" <<<"$out" || diag "$out"
check "the granted QEMU gets its device during the flood" grep -q "kernel-fault: resolved" <<<"$out"
check "a REVOKE answers during the flood" eval 'ctl grant dom2 $UUID2 >/dev/null && ctl revoke dom2 >/dev/null'
out=$(as_user $OTHER_UID "$WORK/probe" library)
check "a request of the flooding uid is still answered (wrong-uid)" grep -q "reason 3:" <<<"$out"
sleep 3
cpu=$(usage_cpu)
lines=$(usage_log)
diag "broker during the flood of uid $OTHER_UID: ${cpu}% of a core, $lines log lines, $(ls /proc/$BROKER_PID/fd | wc -l) fds open"
check "broker CPU stays low (${cpu}% of a core; a busy loop is ~100%)" awk -v c="$cpu" 'BEGIN { exit !(c < 25) }'
check "log lines are limited ($lines for $FLOOD connections)" test "$lines" -lt 200
summed() { grep -q "audit: not-logged what=denials count=[0-9]* seconds=10 last=\"reason=wrong-uid pid=[0-9]* uid=$OTHER_UID\"$" "$BROKER_LOG"; }
for _ in $(seq 120); do summed && break; sleep 0.1; done
check "what was not logged is summed up, once per 10 s" summed
diag "$(grep -E "not-logged|more in the last" "$BROKER_LOG")"
flood_stop
kill -0 "$BROKER_PID" 2>/dev/null
check "the broker is alive" test $? = 0

# --- 2. No fd left: the listeners rest -------------------------------------------
nfd=$(ls /proc/$BROKER_PID/fd | wc -l)
prlimit --pid "$BROKER_PID" --nofile=$((nfd + 16)):1024
usage_mark
flood_start 0 300
diag "root, with the broker's limit at $((nfd + 16)) fds: $FLOOD_RESULT"
sleep 3
cpu=$(usage_cpu)
lines=$(usage_log)
diag "broker without free fds: ${cpu}% of a core, $lines log lines"
check "without free fds the broker does not spin (${cpu}% of a core)" awk -v c="$cpu" 'BEGIN { exit !(c < 25) }'
diag "$(tail -n "$lines" "$BROKER_LOG" | sort | uniq -c | sort -rn | head -n 5)"
check "it says so, limited ($lines lines)" \
    eval 'grep -q "accept: Too many open files; not accepting for 200 ms" "$BROKER_LOG" && [ "$lines" -lt 30 ]'
flood_stop
prlimit --pid "$BROKER_PID" --nofile=1024:1024
ok=0
for _ in $(seq 50); do ctl status >/dev/null 2>&1 && { ok=1; break; }; sleep 0.1; done
check "once the connections are gone it answers again" test $ok = 1
ctl grant dom3 $UUID1 >/dev/null
out=$(launched dom3 $UUID1 $QEMU_UID -- "$WORK/probe" library)
check "and serves a granted QEMU" grep -q "kernel-fault: resolved" <<<"$out"
tap_end

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Grant lifecycle without QEMU: a grant follows the incoming migration, never the clock, and never fails the switch.
#
# The client is the test probe under the preload, making the calls QEMU's
# incoming postcopy makes (two probes, then the switch-time userfaultfd),
# launched the way libvirt launches QEMU; "the migration" is the status XML
# the launcher writes, rewritten by status_xml as libvirt would.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_device
require_cmd python3 setpriv
require_knob_zero

QEMU_UID=64055
make_workdir
install -m 0755 "$UFFD_PROBE" "$WORK/probe"
install -m 0755 "$UFFD_SHIM_PRELOAD" "$WORK/preload.so"
# Lifetime 5 s: every switch below comes later than that.
BROKER_LIFETIME=5 BROKER_QEMU_UID=$QEMU_UID BROKER_EMULATORS="$WORK/probe" \
    write_broker_config "$WORK/broker.conf"
export UFFD_SHIM_SOCKET="$WORK/run/uffd.sock"
PRELOADED=(env LD_PRELOAD="$WORK/preload.so" UFFD_SHIM_SOCKET="$UFFD_SHIM_SOCKET")
U=6f1c2a9e-3333-4a7b-9c3d-0123456789ab

start_broker "$WORK/broker.conf" || { not_ok "broker starts"; tap_end; }
audit_has() { audit | grep -q -- "$1"; }
handed_out() { ctl --json status | python3 -c 'import json, sys; print(json.load(sys.stdin)["handed_out"])'; }

# migration NAME: a "QEMU" of domain NAME runs the postcopy sequence in the
# background, waiting before the switch until $WORK/NAME.switch exists.
# Its output goes to $WORK/NAME.out; MIG_PID is the launcher's (= its) pid.
migration() {
    rm -f "$WORK/$1.switch"
    # Not through `launched`: $! must be the launcher, which becomes the probe.
    python3 "$TESTS_DIR/integration/fake-libvirt-launch.py" --run-dir "$WORK/libvirt" --name "$1" \
        --uuid "$U" --uid $QEMU_UID -- "${PRELOADED[@]}" "$WORK/probe" postcopy \
        --wait "$WORK/$1.switch" >"$WORK/$1.out" 2>&1 &
    MIG_PID=$!
    on_exit "stop_pid $MIG_PID"
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -c '^probe: ' "$WORK/$1.out" 2>/dev/null)" -ge 2 ] && return 0
        sleep 0.1
    done
    return 1
}
# switch NAME: let the switch happen and wait for the "QEMU" to finish.
switch() { touch "$WORK/$1.switch"; wait "$MIG_PID"; }
wait_audit() { local i; for ((i = 0; i < 100; i++)); do audit_has "$1" && return 0; sleep 0.1; done; return 1; }

# --- A precopy longer than the lifetime, then the switch --------------------
ctl grant m1 $U >/dev/null
migration m1 || not_ok "m1 probes ran"
check "the probes are served" test "$(grep -c '^probe: ok' "$WORK/m1.out")" = 2
check "the first asks with HOLD and the preload keeps one userfaultfd for the switch" \
    bash -c 'grep -q "decision=grant reason=ok .*domain=m1 .*hold=yes" <<<"$1"' _ "$(audit)"
sleep 6   # the lifetime passes during "precopy"
# The bound QEMU's fast path is its own: a QEMU of another domain asking
# meanwhile meets the full decision (no grant of its own: not-granted).
out=$(launched o1 6f1c2a9e-4444-4a7b-9c3d-0123456789ab $QEMU_UID -- "$WORK/probe" library)
check "while m1's grant is bound, the QEMU of another domain is refused (not-granted)" \
    grep -q "reason 5:" <<<"$out"
check "the bound grant outlives its lifetime (still active)" grep -q '^m1 ' <(ctl grants)
n0=$(handed_out)
switch m1
diag "$(cat "$WORK/m1.out")"
check "after the lifetime, the switch-time userfaultfd resolves a kernel-mode fault" \
    grep -q "kernel-fault: resolved" "$WORK/m1.out"
check "it was the kept one: the broker was not asked at the switch" test "$(handed_out)" = "$n0"
check "one userfaultfd was kept until the switch" grep -qx "kept-uffds: 1" "$WORK/m1.out"
check "taking it ends the grant (exhausted, held connection closed)" \
    wait_audit "grant-end domain=m1 uuid=$U why=exhausted (held connection closed)"
check "no expiry was ever recorded for it" bash -c '! grep -q "grant-end domain=m1 .*why=expired" <<<"$1"' _ "$(audit)"

# --- The broker killed and restarted during a long precopy ------------------
ctl grant m2 $U >/dev/null
migration m2 || not_ok "m2 probes ran"
sleep 6
kill -KILL "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null
rm -f "$WORK/run/uffd.sock" "$WORK/run/admin.sock"
start_broker "$WORK/broker.conf" || not_ok "broker restarts"
sleep 0.5
switch m2
diag "$(cat "$WORK/m2.out")"
check "broker restarted mid-precopy: the switch-time userfaultfd resolves a kernel-mode fault" \
    grep -q "kernel-fault: resolved" "$WORK/m2.out"
check "the kept one was dropped when the broker's connection went (none left behind)" \
    grep -qx "kept-uffds: 0" "$WORK/m2.out"
check "the restarted broker served the bound QEMU after its lifetime (LAST)" \
    audit_has "decision=grant reason=ok .*domain=m2 .*last=yes"

# --- A migration that converges in precopy ---------------------------------
ctl grant m3 $U >/dev/null
migration m3 || not_ok "m3 probes ran"
m3_pid=$MIG_PID
status_xml m3 $U "$m3_pid" running   # libvirt: the incoming migration completed
check "converged: the grant ends within seconds (done)" wait_audit "grant-end domain=m3 uuid=$U why=done"
check "converged: no active grant is left" bash -c '! grep -q "^m3 " <<<"$1"' _ "$(ctl grants)"
for ((i = 0; i < 30; i++)); do
    [ "$(find /proc/$m3_pid/fd -lname 'anon_inode:\[userfaultfd\]' 2>/dev/null | wc -l)" = 0 ] && break
    sleep 0.1
done
check "converged: the QEMU keeps no userfaultfd (the kept one is dropped)" \
    test "$(find /proc/$m3_pid/fd -lname 'anon_inode:\[userfaultfd\]' 2>/dev/null | wc -l)" = 0
switch m3
check "converged: a late request is refused (not-migrating)" grep -q "broker refused /dev/userfaultfd: libvirt shows no incoming migration" "$WORK/m3.out"

# --- Revoke and replace while the migration goes on -------------------------
ctl grant m4 $U >/dev/null
migration m4 || not_ok "m4 probes ran"
out=$(ctl revoke m4 2>&1)
check "revoke of a grant serving a live incoming migration is refused (in-use)" \
    bash -c '[ "$2" != 0 ] && grep -q "incoming migration of a running QEMU" <<<"$1"' _ "$out" "$?"
diag "$out"
check "so is a replacing grant" bash -c '! "$@" >/dev/null 2>&1' _ "$UFFD_SHIMCTL" --config "$BROKER_CONFIG" grant m4 $U --replace
switch m4
check "the switch still gets its userfaultfd" grep -q "kernel-fault: resolved" "$WORK/m4.out"
ctl grant m5 $U >/dev/null
migration m5 || not_ok "m5 probes ran"
stop_pid "$MIG_PID"
check "once its QEMU is gone the grant ends (exited)" wait_audit "grant-end domain=m5 uuid=$U why=exited"
ctl grant m5 $U >/dev/null
quiet() { "$@" >/dev/null 2>&1; }
check "and an unused grant can be revoked" quiet ctl revoke m5

# --- Refusals come before the switch ---------------------------------------
# Not migrating: the QEMU of a domain that just runs gets nothing, grant or not.
ctl grant r1 $U >/dev/null
out=$(launched r1 $U $QEMU_UID --not-incoming -- "$WORK/probe" library)
check "a running domain that is not migrating in is refused (not-migrating)" grep -q "reason 20:" <<<"$out"
# The last use is kept for the switch: with 2 uses, the second probe is refused.
ctl grant r2 $U --uses 2 >/dev/null
migration r2 || not_ok "r2 probes ran"
check "uses=2: the second probe is refused (the last use is kept for the switch)" \
    bash -c 'grep -q "^probe: ok" "$1" && grep -q "^probe: EPERM" "$1"' _ "$WORK/r2.out"
switch r2
check "uses=2: the switch still gets its userfaultfd" grep -q "kernel-fault: resolved" "$WORK/r2.out"
ctl grant r3 $U --uses 2 >/dev/null
out=$(launched r3 $U $QEMU_UID -- "$WORK/probe" library-last)
check "a LAST request may take the last use" grep -q "kernel-fault: resolved" <<<"$out"
# An unused grant still expires by the clock.
ctl grant r4 $U >/dev/null
sleep 5.5
out=$(launched r4 $U $QEMU_UID -- "$WORK/probe" library)
check "a grant nobody used expires (expired)" grep -q "reason 6:" <<<"$out"
check "the knob still reads 0" test "$(knob)" = 0
tap_end

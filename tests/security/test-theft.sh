#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Same-uid theft: another process of the QEMU uid ptraces a granted QEMU, makes it connect, takes the socket: no device.
#
# The victim is a granted domain's QEMU (locked pid file, status XML, the
# allowed emulator), idle and dumpable, as libvirt's QEMUs are. The
# attacker runs as the same uid (another domain's QEMU, compromised): it
# attaches with ptrace, makes the victim create a socket and connect it to
# the broker (injected system calls), copies the socket with pidfd_getfd(),
# and asks for the device on its copy. The broker sees the victim as the
# peer. It must refuse: dumpable when the attacker let go of the victim,
# traced when it still holds it. Then the victim asks the way libuffd-shim
# does (non-dumpable while it asks) and is served: the grant was good.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_device
require_cmd python3 setpriv
require_knob_zero
[ -n "${UFFD_PTRACE_STEAL:-}" ] || skip_all "needs UFFD_PTRACE_STEAL (run from meson test)"
[ "$(uname -m)" = x86_64 ] || skip_all "the ptrace helper injects x86_64 system calls"

QEMU_UID=64055
UUID1=6f1c2a9e-1111-4a7b-9c3d-0123456789ab
make_workdir
install -m 0755 "$UFFD_PTRACE_STEAL" "$WORK/qemu"
BROKER_QEMU_UID=$QEMU_UID BROKER_EMULATORS="$WORK/qemu" write_broker_config "$WORK/broker.conf"
export UFFD_SHIM_SOCKET="$WORK/run/uffd.sock"
start_broker "$WORK/broker.conf" || { not_ok "broker starts"; tap_end; }

ctl grant vm1 $UUID1 >/dev/null
launched vm1 $UUID1 $QEMU_UID -- "$WORK/qemu" victim >"$WORK/victim.log" 2>&1 &
VPID=
for _ in $(seq 100); do
    VPID=$(sed -n 's/^ready pid=//p' "$WORK/victim.log")
    [ -n "$VPID" ] && break
    sleep 0.05
done
on_exit "stop_pid ${VPID:-}"
check "the victim runs as the granted domain's QEMU (pid ${VPID:-none})" test -n "$VPID"
check "... and is dumpable, as libvirt's QEMUs are (its /proc files are its uid's)" \
    test "$(stat -c %u "/proc/$VPID/status")" = $QEMU_UID

# attack [--detach]: the attacker's output.
attack() { as_user $QEMU_UID "$WORK/qemu" attack "$VPID" "$UFFD_SHIM_SOCKET" "$@" 2>&1; }
out=$(attack --detach)
diag "attacker, victim let go: $out"
check "the attack itself works (the socket was taken)" grep -q "^stole fd" <<<"$out"
check "the stolen connection gets no device: dumpable (21)" grep -qx "status 21 fd=none" <<<"$out"
out=$(attack)
diag "attacker, victim still held: $out"
check "the stolen connection of a traced victim gets no device: traced (22)" grep -qx "status 22 fd=none" <<<"$out"
check "the audit names the victim and the reasons" \
    eval 'audit | grep -q "decision=deny reason=dumpable pid=$VPID uid=$QEMU_UID exe=$WORK/qemu domain=vm1 " &&
          audit | grep -q "decision=deny reason=traced pid=$VPID uid=$QEMU_UID exe=$WORK/qemu domain=vm1 "'
check "nothing was handed out to the attacker" bash -c '! grep -q "decision=grant" "$1"' _ "$BROKER_LOG"

# The victim, untouched since, asks the way a well-behaved client does.
for _ in $(seq 50); do [ "$(awk '/^State:/ {print $2}' "/proc/$VPID/status")" = S ] && break; sleep 0.1; done
kill -USR1 "$VPID"
for _ in $(seq 100); do grep -q "^uffd: " "$WORK/victim.log" && break; sleep 0.05; done
diag "victim: $(grep '^uffd: ' "$WORK/victim.log")"
check "the granted QEMU itself, non-dumpable while it asks, is served" grep -qx "uffd: ok" "$WORK/victim.log"
check "... and is dumpable again afterwards" test "$(stat -c %u "/proc/$VPID/status")" = $QEMU_UID
tap_end

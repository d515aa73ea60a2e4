#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Broker end to end without QEMU: unprivileged uffds, kernel-mode faults, every denial, restart.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_device
require_cmd python3 setpriv
require_knob_zero

QEMU_UID=64055
OTHER_UID=12345
make_workdir
cp "$UFFD_PROBE" "$WORK/probe"
chmod 0755 "$WORK/probe"
cp "$WORK/probe" "$WORK/probe-copy"   # same bytes, another inode: not an allowed emulator
BROKER_QEMU_UID=$QEMU_UID BROKER_EMULATORS="$WORK/probe" write_broker_config "$WORK/broker.conf"
export UFFD_SHIM_SOCKET="$WORK/run/uffd.sock"

UUID1=6f1c2a9e-1111-4a7b-9c3d-0123456789ab
UUID2=6f1c2a9e-2222-4a7b-9c3d-0123456789ab

# expect_reason CODE NAME OUTPUT
has_reason() { grep -q "reason $1:" <<<"$2"; }
audit_has() { grep -q "audit: .*$1" "$BROKER_LOG"; }



out=$(as_user $OTHER_UID "$WORK/probe" syscall --no-fault)
check "unprivileged userfaultfd() is refused with EPERM at knob 0" grep -q "uffd: EPERM" <<<"$out"

out=$(as_user $OTHER_UID "$WORK/probe" umo)
check "a user-mode-only uffd cannot resolve a kernel-mode fault (EFAULT)" grep -q "kernel-fault: EFAULT" <<<"$out"
diag "$out"

start_broker "$WORK/broker.conf" || { not_ok "broker starts"; tap_end; }
ok "broker starts with a private config"

out=$(launched dom1 $UUID1 $QEMU_UID -- "$WORK/probe" library)
check "without a grant the QEMU user is denied (not-granted)" has_reason 5 "$out"
check "the denial is audited" audit_has "decision=deny reason=not-granted pid=[0-9]* uid=$QEMU_UID exe=$WORK/probe"

ctl grant dom1 $UUID1 >/dev/null
out=$(launched dom1 $UUID1 $QEMU_UID -- "$WORK/probe" library)
diag "$out"
check "with a grant, the library's uffd resolves a kernel-mode fault" grep -q "kernel-fault: resolved" <<<"$out"
check "the hand-out is audited with domain and uuid" audit_has "decision=grant reason=ok pid=[0-9]* uid=$QEMU_UID exe=$WORK/probe domain=dom1 uuid=$UUID1"
check "the grant recorded one use" audit_has "decision=grant reason=ok .*domain=dom1 .*uses-left=7 "

out=$(launched dom1 $UUID1 $OTHER_UID -- "$WORK/probe" library)
check "another uid is denied (wrong-uid)" has_reason 3 "$out"
check "wrong-uid is audited" audit_has "decision=deny reason=wrong-uid pid=[0-9]* uid=$OTHER_UID"

out=$(launched dom1 $UUID1 $QEMU_UID -- "$WORK/probe-copy" library)
check "another executable is denied (wrong-exe)" has_reason 4 "$out"

out=$(launched other $UUID2 $QEMU_UID -- "$WORK/probe" library)
check "the QEMU uid but not the granted domain's pid is denied (not-granted)" has_reason 5 "$out"

ctl grant dom2 $UUID2 >/dev/null
out=$(launched dom2 $UUID2 $QEMU_UID --no-lock -- "$WORK/probe" library)
check "a pid file the peer does not hold locked does not identify it" has_reason 5 "$out"
out=$(launched dom2 $UUID1 $QEMU_UID -- "$WORK/probe" library)
check "a domain whose libvirt record has another UUID is denied (uuid-mismatch)" has_reason 10 "$out"
out=$(as_user $QEMU_UID env UFFD_SHIM_SOCKET="$UFFD_SHIM_SOCKET" "$WORK/probe" library)
check "a QEMU-uid process that is no domain's QEMU is denied" has_reason 5 "$out"

# The preload, as stock QEMU would load it: QEMU 7.2's syscall() path and
# QEMU >= 8.1's uffd_open() (open the device once and keep it, else the
# syscall), everything else untouched.
install -m 0755 "$UFFD_SHIM_PRELOAD" "$WORK/preload.so"
PRELOAD_ENV=(env LD_PRELOAD="$WORK/preload.so" UFFD_SHIM_SOCKET="$UFFD_SHIM_SOCKET")
ctl grant pre1 $UUID1 >/dev/null
out=$(launched pre1 $UUID1 $QEMU_UID -- "${PRELOAD_ENV[@]}" "$WORK/probe" syscall 2>&1)
check "preload, syscall() path: the uffd resolves a kernel-mode fault" grep -q "kernel-fault: resolved" <<<"$out"
check "the preload says where the device came from (QEMU's log)" grep -q "uffd-shim-preload: got /dev/userfaultfd from the broker" <<<"$out"
ctl grant pre2 $UUID1 >/dev/null   # a grant belongs to the one QEMU that used it first
out=$(launched pre2 $UUID1 $QEMU_UID -- "${PRELOAD_ENV[@]}" "$WORK/probe" qemu81 2>&1)
check "preload, QEMU >= 8.1's uffd_open(): the refused open sends it to the syscall" grep -qx "mode: syscall" <<<"$out"
check "preload, QEMU >= 8.1's uffd_open(): the uffd resolves a kernel-mode fault" grep -q "kernel-fault: resolved" <<<"$out"
check "preload, QEMU >= 8.1's uffd_open(): no /dev/userfaultfd fd is left in the process" grep -qx "device-held: no" <<<"$out"
ctl grant pre3 $UUID1 >/dev/null
out=$(launched pre3 $UUID1 $QEMU_UID -- "${PRELOAD_ENV[@]}" "$WORK/probe" device --no-fault 2>&1)
check "preload: a granted process's open(\"/dev/userfaultfd\") still fails (the device is never handed out to keep)" \
    bash -c 'grep -q "uffd: EACCES" <<<"$1" && ! grep -q "uffd-shim-preload" <<<"$1"' _ "$out"
out=$(as_user $OTHER_UID "${PRELOAD_ENV[@]}" "$WORK/probe" syscall --no-fault 2>&1)
check "preload, refused by the broker: the caller sees the original EPERM and the reason is logged" \
    bash -c 'grep -q "uffd: EPERM" <<<"$1" && grep -q "broker refused /dev/userfaultfd: caller is not the configured QEMU user" <<<"$1"' _ "$out"
out=$(as_user $OTHER_UID "${PRELOAD_ENV[@]}" "$WORK/probe" umo 2>&1)
check "preload: a user-mode-only request passes through untouched (no broker)" \
    bash -c 'grep -q "kernel-fault: EFAULT" <<<"$1" && ! grep -q "uffd-shim-preload" <<<"$1"' _ "$out"
out=$(as_user $OTHER_UID "${PRELOAD_ENV[@]}" python3 -c 'import os, ctypes
fd = os.open("/etc/hostname", os.O_RDONLY); os.close(fd)
fd = os.open("/proc/self/status", os.O_RDONLY, dir_fd=None); os.close(fd)
libc = ctypes.CDLL(None); print("pid-ok" if libc.syscall(39) == os.getpid() else "pid-bad")' 2>&1)
check "preload: other syscalls and opens pass through untouched" grep -qx "pid-ok" <<<"$out"

ctl revoke dom2 >/dev/null
out=$(launched dom2 $UUID2 $QEMU_UID -- "$WORK/probe" library)
check "a revoked grant is denied (revoked)" has_reason 8 "$out"

ctl grant dom3 $UUID1 --uses 1 >/dev/null
launched dom3 $UUID1 $QEMU_UID -- "$WORK/probe" library >/dev/null
out=$(launched dom3 $UUID1 $QEMU_UID -- "$WORK/probe" library)
check "a used-up grant is denied (exhausted)" has_reason 7 "$out"

ctl grant dom4 $UUID2 --lifetime 1 >/dev/null
sleep 2.2
out=$(launched dom4 $UUID2 $QEMU_UID -- "$WORK/probe" library)
check "an expired grant is denied (expired)" has_reason 6 "$out"
check "the expiry is audited" audit_has "grant-end domain=dom4 uuid=$UUID2 why=expired"

# Restart: the grant survives (an in-flight migration keeps working).
ctl grant dom5 $UUID2 >/dev/null
stop_pid "$BROKER_PID"
start_broker "$WORK/broker.conf" || not_ok "broker restarts"
check "an active grant survives a broker restart" grep -q '"domain" : "dom5"' <<<"$(ctl --json grants)"
check "a grant whose QEMU exited is ended" audit_has "grant-end domain=dom1 uuid=$UUID1 why=exited"
out=$(launched dom5 $UUID2 $QEMU_UID -- "$WORK/probe" library)
check "and is served after the restart" grep -q "kernel-fault: resolved" <<<"$out"
# The state file is not synced: one that is not of this boot is not used.
stop_pid "$BROKER_PID"
sed -i 's/^boot-id=.*/boot-id=00000000-0000-4000-8000-000000000000/' "$WORK/run/grants.state"
start_broker "$WORK/broker.conf" || not_ok "broker restarts"
check "a state file of another boot is ignored: the grant is gone" \
    bash -c '! grep -q "\"domain\" : \"dom5\"" <<<"$1"' _ "$(ctl --json grants)"
check "and the broker says why" grep -q "ignoring grant state .*: it is from an earlier boot" "$BROKER_LOG"
ctl grant dom5 $UUID2 >/dev/null
stop_pid "$BROKER_PID"
sed -i '/^boot-id=/d' "$WORK/run/grants.state"
start_broker "$WORK/broker.conf" || not_ok "broker restarts"
check "a state file that does not say its boot is ignored too" \
    bash -c '! grep -q "\"domain\" : \"dom5\"" <<<"$1"' _ "$(ctl --json grants)"
check "revoked/expired/exhausted grants are not listed as active" \
    bash -c '! grep -qE "\"domain\" : \"dom[234]\"" <<<"$1"' _ "$(ctl --json grants)"
check "a non-root admin client is refused" \
    bash -c '! setpriv --reuid=12345 --regid=12345 --clear-groups "$@" status >/dev/null 2>&1' _ "$UFFD_SHIMCTL" --config "$BROKER_CONFIG"
check "the knob still reads 0" test "$(knob)" = 0
tap_end

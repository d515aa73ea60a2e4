#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end fault injection: broker SIGKILL after the postcopy switch, destination QEMU killed, state dir read-only.
#
# Observed outcomes are printed as diag lines. After the switch to postcopy
# the source cannot resume the guest: killing the destination QEMU then is
# a lost guest run-state by construction (libvirt keeps the source domain,
# paused, "post-copy failed"); the test asserts that libvirt still lists the
# domain on one side and that no grant is left open on the destination.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib/common.sh"
. "$here/lib/hosts.sh"
. "$here/lib/shim.sh"

e2e_test_begin
export E2E_MIGRATE_TIMEOUT=${E2E_MIGRATE_TIMEOUT:-180}

host_up src && host_up dst || fail_rest "host_up failed"
e2e_guest_image "$E2E_BASE/images/guest.img" 2>"$E2E_BASE/guest-build.log" || fail_rest "guest image"
IMG=$E2E_BASE/images/guest.img
shim_install || fail_rest "meson install of uffd-shim failed"
shim_config "[grants]" "lifetime=600"
shim_hook_install dst >/dev/null 2>&1 || fail_rest "hook install"
shim_start_broker dst || fail_rest "broker does not start"
on_exit shim_stop_broker dst

# no_grants_within SECONDS: wait (bounded) until the destination has no active grant.
no_grants_within() {
    local i
    for ((i = 0; i < $1 * 5; i++)); do shim_no_grants dst && return 0; sleep 0.2; done
    return 1
}
# wait_src_state DOM STATE SECONDS
wait_src_state() {
    local i
    for ((i = 0; i < $3 * 5; i++)); do [ "$(host_domstate src "$1")" = "$2" ] && return 0; sleep 0.2; done
    return 1
}
t_start=$(date +%s)
elapsed() { echo $(( $(date +%s) - t_start )); }

# --- 1. Broker SIGKILLed after the switch to postcopy, then restarted --------
guest_start k1 "$IMG" || fail_rest "guest k1 does not start"
migrate_bg src dst k1 --postcopy --bandwidth 32
shim_wait_grant dst k1 || diag "k1: no grant appeared"
switch_to_postcopy k1 || diag "k1: migrate-postcopy was never accepted"
# The source pauses once the switch is done; the destination QEMU then has its uffd.
wait_src_state k1 paused 30 || diag "k1: source never paused (state $(host_domstate src k1))"
sleep 0.5
kill -KILL "$SHIM_BROKER_PID"
SHIM_BROKER_PID=
t_kill=$(date +%s)
shim_start_broker dst || diag "broker restart failed"
migrate_bg_wait
diag "k1: rc=$E2E_MIGRATE_RC postcopy=$E2E_MIGRATE_POSTCOPY src=$(host_domstate src k1) dst=$(host_domstate dst k1) ($(( $(date +%s) - t_kill )) s after the kill)"
check "broker SIGKILL after the switch: the migration completes in postcopy" \
    test "$E2E_MIGRATE_RC $E2E_MIGRATE_POSTCOPY" = "0 1"
check "the guest runs on the destination" guest_running dst k1
check "no grant is left after the restart" no_grants_within 10
host_virsh dst destroy k1 >/dev/null 2>&1

# --- 2. Destination QEMU killed during postcopy ------------------------------
# A small guest finishes postcopy in well under a second (observed 0.38 s):
# cap the postcopy bandwidth so the kill lands while pages are still missing.
guest_start k2 "$IMG" || fail_rest "guest k2 does not start"
migrate_bg src dst k2 --postcopy --bandwidth 32 --postcopy-bandwidth 1
shim_wait_grant dst k2 || diag "k2: no grant appeared"
switch_to_postcopy k2 || diag "k2: migrate-postcopy was never accepted"
wait_src_state k2 paused 30 || diag "k2: source never paused"
diag "k2: before the kill: src '$(host_domstate src k2)' dst '$(host_domstate dst k2)'"
qpid=$(host_domain_pid dst k2)
if [ -n "$qpid" ]; then
    diag "k2: SIGKILL destination QEMU pid $qpid (started by this test's migration)"
    kill -KILL "$qpid"
else
    diag "k2: no destination QEMU pid found"
fi
migrate_bg_wait
sleep 2
s_state=$(host_virsh src domstate --reason k2 2>/dev/null | head -n 1)
d_state=$(host_virsh dst domstate --reason k2 2>/dev/null | head -n 1)
diag "k2: rc=$E2E_MIGRATE_RC postcopy=$E2E_MIGRATE_POSTCOPY src='$s_state' dst='$d_state'" \
    "k2: $(tr '\n' ' ' <<<"$E2E_MIGRATE_OUTPUT" | head -c 300)"
check "destination QEMU killed in postcopy: virsh migrate fails" test "$E2E_MIGRATE_RC" != 0
check "libvirt still lists the domain on one side (src '$s_state', dst '$d_state')" \
    test -n "$s_state$d_state"
check "no grant is left open on the destination" no_grants_within 10
check "the grant ended with its QEMU or was revoked by the hook" \
    grep -qE "grant-revoke domain=k2 result=ok|grant-end domain=k2 .*why=(revoked|exited|exhausted)|decision=grant .*domain=k2 .*uses-left=0" <(shim_audit dst)
host_virsh src destroy k2 >/dev/null 2>&1
host_virsh dst destroy k2 >/dev/null 2>&1

# --- 3. State directory read-only: the hook cannot create the grant ---------
droot=$(host_root dst)
host_exec dst mount --bind /run/uffd-shim /run/uffd-shim &&
    host_exec dst mount -o remount,bind,ro /run/uffd-shim || diag "k3: read-only bind mount failed"
guest_start k3 "$IMG" || fail_rest "guest k3 does not start"
E2E_MIGRATE_TIMEOUT=60 migrate src dst k3 --postcopy --postcopy-after-precopy --bandwidth 32
diag "k3: rc=$E2E_MIGRATE_RC in ${E2E_MIGRATE_SECONDS}s: $(tr '\n' ' ' <<<"$E2E_MIGRATE_OUTPUT" | head -c 400)"
check "state dir read-only: the migration fails early (${E2E_MIGRATE_SECONDS}s)" \
    bash -c '[ "$1" != 0 ] && [ "${2%%.*}" -lt 30 ]' _ "$E2E_MIGRATE_RC" "$E2E_MIGRATE_SECONDS"
check "at QEMU's capability probe (the hook lets the migration go on without a grant)" \
    grep -qF "$E2E_POSTCOPY_ERROR" <<<"$E2E_MIGRATE_OUTPUT"
check "the broker's audit names the 'state' reason" \
    grep -q "grant-create domain=k3 .*result=state" <(shim_audit dst)
check "the destination's domain log says QEMU's request was refused" \
    grep -q "uffd-shim-preload: broker refused /dev/userfaultfd" "$droot/var/log/libvirt/qemu/k3.log"
check "the source keeps running" guest_running src k3
check "nothing of it is left on the destination" test -z "$(host_domstate dst k3)"
check "no grant is open" shim_no_grants dst
host_exec dst umount /run/uffd-shim || diag "k3: umount failed"
[ -S "$droot/run/uffd-shim/admin.sock" ] || diag "k3: admin socket hidden after umount"
migrate src dst k3 --postcopy --postcopy-after-precopy --bandwidth 32
check "after the state dir is writable again the same domain migrates" test "$E2E_MIGRATE_RC" = 0
check "no grant remains at the end" no_grants_within 10
check "the knob reads 0 at the end" test "$(knob)" = 0
diag "total $(elapsed) s"
tap_end

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end failure paths: broker down, migration aborted, destination libvirtd restarted.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib/common.sh"
. "$here/lib/hosts.sh"
. "$here/lib/shim.sh"

e2e_test_begin
host_up src && host_up dst || fail_rest "host_up failed"
e2e_guest_image "$E2E_BASE/images/guest.img" 2>"$E2E_BASE/guest-build.log" || fail_rest "guest image"
IMG=$E2E_BASE/images/guest.img
shim_install || fail_rest "meson install of uffd-shim failed"
shim_config "[grants]" "lifetime=600"
shim_hook_install dst >/dev/null 2>&1 || fail_rest "hook install"

no_grants() { shim_no_grants dst; }
PC=(--postcopy --postcopy-after-precopy --bandwidth 32)

# --- Broker not running on the destination ----------------------------------
# A migration that needs no userfaultfd does not depend on the broker; a
# postcopy one fails at QEMU's capability probe, before the switch.
guest_start f1 "$IMG" || fail_rest "guest f1 does not start"
migrate src dst f1
check "broker down: a precopy migration succeeds" test "$E2E_MIGRATE_RC $E2E_MIGRATE_POSTCOPY" = "0 0"
check "broker down: the precopy-migrated guest runs on the destination" guest_running dst f1
host_virsh dst destroy f1 >/dev/null 2>&1
guest_start f1 "$IMG" || fail_rest "guest f1 does not start again"
migrate src dst f1 "${PC[@]}"
diag "f1: $(tr '\n' ' ' <<<"$E2E_MIGRATE_OUTPUT" | head -c 400)"
check "broker down: a postcopy migration fails" test "$E2E_MIGRATE_RC" != 0
check "at the capability probe, before the switch (QEMU's postcopy error)" \
    grep -qF "$E2E_POSTCOPY_ERROR" <<<"$E2E_MIGRATE_OUTPUT"
check "the source domain keeps running untouched (never 'paused (post-copy failed)')" \
    guest_running src f1
check "nothing of it is left on the destination" test -z "$(host_domstate dst f1)"
check "the destination's domain log names the broker socket and the fix" \
    grep -q "uffd-shim-preload: cannot reach the uffd-shim broker at /run/uffd-shim/uffd.sock (start uffd-shimd)" \
    "$(host_root dst)/var/log/libvirt/qemu/f1.log"

# --- Migration aborted with domjobabort -------------------------------------
shim_start_broker dst || fail_rest "broker does not start"
migrate_bg src dst f1 --postcopy --bandwidth 32
check "aborted: the grant was open while the migration ran" shim_wait_grant dst f1
sleep 1
host_virsh src domjobabort f1 >/dev/null 2>&1
migrate_bg_wait
check "aborted: virsh migrate fails" test "$E2E_MIGRATE_RC" != 0
for ((i = 0; i < 50; i++)); do no_grants && break; sleep 0.2; done
check "aborted: the grant is gone (revoked by the hook, or ended with its QEMU)" \
    grep -qE "grant-revoke domain=f1 result=ok|grant-end domain=f1 .*why=(revoked|exited)" <(shim_audit dst)
check "aborted: no grant remains" no_grants
check "aborted: the source keeps running" guest_running src f1

# --- Destination libvirtd restarted before the migration --------------------
host_restart_libvirtd dst || fail_rest "libvirtd restart"
migrate src dst f1 "${PC[@]}"
check "after a destination libvirtd restart the hook still works: postcopy succeeds" test "$E2E_MIGRATE_RC" = 0
check "and really switched to postcopy" test "$E2E_MIGRATE_POSTCOPY" = 1
check "the domain runs on the destination" guest_running dst f1
check "the broker served its QEMU" grep -q "decision=grant reason=ok .*domain=f1 " <(shim_audit dst)

# --- libvirtd restarted while a domain holds a grant: reconnect keeps it ---
f1_uuid=$(host_virsh dst domuuid f1 | head -n 1)
shim_ctl dst grant f1 "$f1_uuid" --replace >/dev/null
host_restart_libvirtd dst || diag "libvirtd restart failed"
sleep 2  # libvirtd reconnects to its domains (and runs the hook) in the background
check "reconnect (libvirtd restarted): the hook keeps the domain's grant" shim_wait_grant dst f1
check "reconnect: the domain keeps running" guest_running dst f1
shim_ctl dst revoke f1 >/dev/null

# --- Broker restarted mid-migration: the grant survives ---------------------
host_virsh dst destroy f1 >/dev/null 2>&1
guest_start f2 "$IMG" || fail_rest "guest f2 does not start"
migrate_bg src dst f2 --postcopy --bandwidth 32
shim_wait_handouts dst f2 3 || diag "f2's QEMU did not get its devices up to ADVISE"
kill -KILL "$SHIM_BROKER_PID"
SHIM_BROKER_PID=
shim_start_broker dst || diag "broker restart failed"
switch_to_postcopy f2
migrate_bg_wait
check "broker killed and restarted before the switch: the migration still completes in postcopy" \
    test "$E2E_MIGRATE_RC $E2E_MIGRATE_POSTCOPY" = "0 1"
check "no grant remains" no_grants
check "the knob reads 0 at the end" test "$(knob)" = 0
tap_end

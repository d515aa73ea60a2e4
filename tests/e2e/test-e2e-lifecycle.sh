#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: grants follow the incoming migration, not a clock; no shim decision fails a migration at the switch.
#
# Two libvirt 9.0 hosts, QEMU 7.2, knob 0, uffd-shim on the destination with
# a grant lifetime of 8 s standing in for a precopy that outlasts the default
# 1800 s: every precopy below runs longer than that (bandwidth 4 MiB/s) and
# is switched by hand with `virsh migrate-postcopy`.
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
LIFETIME=8
shim_config "[grants]" "lifetime=$LIFETIME"
shim_start_broker dst || fail_rest "broker does not start"
shim_hook_install dst >/dev/null 2>&1 || fail_rest "hook install"

SLOW=(--postcopy --bandwidth 4)
audit_dst() { shim_audit dst; }
no_grants() { shim_no_grants dst; }
# bound DOMAIN: wait (bounded) until the destination QEMU of DOMAIN made its
# first request and the preload kept its switch-time userfaultfd.
bound() {
    local i
    for ((i = 0; i < 150; i++)); do
        grep -q "decision=grant reason=ok .*domain=$1 .*hold=yes" <(audit_dst) && return 0
        sleep 0.2
    done
    return 1
}
wait_audit() {
    local i
    for ((i = 0; i < 100; i++)); do grep -q -- "$1" <(audit_dst) && return 0; sleep 0.1; done
    return 1
}
# outlive_lifetime: sleep until the grant's lifetime has surely passed.
outlive_lifetime() { sleep $((LIFETIME + 4)); }
uffds_of() { find "/proc/$1/fd" -lname 'anon_inode:\[userfaultfd\]' 2>/dev/null | wc -l; }
# switched_ok DOMAIN: the background migration, switched by hand, completed in
# postcopy and the guest is intact on the destination.
switched_ok() {
    switch_to_postcopy "$1" || diag "migrate-postcopy $1 was not accepted"
    migrate_bg_wait
    diag "$1: rc=$E2E_MIGRATE_RC postcopy=$E2E_MIGRATE_POSTCOPY $(head -c 300 <<<"$E2E_MIGRATE_OUTPUT")"
    check "$1: the migration completes in postcopy" test "$E2E_MIGRATE_RC $E2E_MIGRATE_POSTCOPY" = "0 1"
    [ "$E2E_MIGRATE_RC $E2E_MIGRATE_POSTCOPY" = "0 1" ] ||
        diag "destination domain log:" "$(tail -n 30 "$(host_root dst)/var/log/libvirt/qemu/$1.log" 2>/dev/null)" \
            "broker audit:" "$(shim_audit dst | tail -n 8)"
    check "$1: the guest runs on the destination, no DMA error" guest_ok dst "$1"
    check "$1: guest memory is intact" memory_ok dst "$1"
    check "$1: the source no longer has it (not 'paused (post-copy failed)')" gone_from src "$1"
    check "$1: no grant remains" no_grants
    host_virsh dst destroy "$1" >/dev/null 2>&1
}

# --- 1. A precopy longer than the lifetime, then the switch -----------------
guest_start l1 "$IMG" || fail_rest "guest l1 does not start"
migrate_bg src dst l1 "${SLOW[@]}"
check "l1: the destination QEMU is bound to its grant and kept its switch-time userfaultfd" bound l1
outlive_lifetime
check "l1: after its lifetime the bound grant is still active" shim_wait_grant dst l1
switched_ok l1
check "l1: the grant was never expired" bash -c '! grep -q "grant-end domain=l1 .*why=expired" <<<"$1"' _ "$(audit_dst)"
check "l1: it ended when the switch took the kept userfaultfd" \
    grep -q "grant-end domain=l1 .*why=exhausted (held connection closed)" <(audit_dst)
check "l1: the switch asked the broker nothing (one grant line with hold, none with last=yes)" \
    bash -c '! grep -q "decision=grant .*domain=l1 .*last=yes" <<<"$1"' _ "$(audit_dst)"

# --- 2. The broker SIGKILLed and restarted during that long precopy --------
guest_start l2 "$IMG" || fail_rest "guest l2 does not start"
migrate_bg src dst l2 "${SLOW[@]}"
check "l2: bound, and past ADVISE (three hand-outs)" shim_wait_handouts dst l2 3
kill -KILL "$SHIM_BROKER_PID"
SHIM_BROKER_PID=
outlive_lifetime
shim_start_broker dst || diag "broker restart failed"
check "l2: the restarted broker still holds the bound grant past its lifetime" shim_wait_grant dst l2
switched_ok l2
check "l2: the restarted broker served the switch (LAST), the kept uffd having gone with the old broker" \
    grep -q "decision=grant reason=ok .*domain=l2 .*last=yes" <(audit_dst)

# --- 3. A --postcopy migration that converges in precopy -------------------
guest_start l3 "$IMG" || fail_rest "guest l3 does not start"
migrate src dst l3 --postcopy
check "l3: --postcopy without a switch completes in precopy" test "$E2E_MIGRATE_RC $E2E_MIGRATE_POSTCOPY" = "0 0"
check "l3: its grant ends within seconds (done)" wait_audit "grant-end domain=l3 .*why=done"
check "l3: no active grant is left" no_grants
l3_pid=$(host_domain_pid dst l3)
for ((i = 0; i < 30; i++)); do [ "$(uffds_of "$l3_pid")" = 0 ] && break; sleep 0.1; done
check "l3: the migrated QEMU keeps no userfaultfd (the kept one was dropped)" test "$(uffds_of "$l3_pid")" = 0
check "l3: the guest runs on the destination" guest_ok dst l3
host_virsh dst destroy l3 >/dev/null 2>&1

# --- 4. Revoke by the operator during a long precopy -----------------------
guest_start l4 "$IMG" || fail_rest "guest l4 does not start"
migrate_bg src dst l4 "${SLOW[@]}"
check "l4: bound" bound l4
out=$(shim_ctl dst revoke l4 2>&1)
rc=$?
diag "revoke l4: rc=$rc $out"
check "l4: uffd-shimctl revoke is refused (in-use) and says how to stop the migration instead" \
    bash -c '[ "$1" != 0 ] && grep -q "incoming migration of a running QEMU" <<<"$2"' _ "$rc" "$out"
check "l4: the refusal is audited" grep -q "grant-revoke domain=l4 result=in-use" <(audit_dst)
switched_ok l4

# --- 5. libvirtd restarted on the destination during a long precopy --------
# libvirt's own rule: an incoming migration still in precopy cannot be
# recovered after a restart; libvirtd kills the half-migrated QEMU. The
# source sees its migration fail before any switch and keeps the guest.
guest_start l5 "$IMG" || fail_rest "guest l5 does not start"
migrate_bg src dst l5 "${SLOW[@]}"
check "l5: bound" bound l5
host_restart_libvirtd dst || diag "libvirtd restart failed"
migrate_bg_wait
diag "l5: rc=$E2E_MIGRATE_RC postcopy=$E2E_MIGRATE_POSTCOPY $(head -c 300 <<<"$E2E_MIGRATE_OUTPUT")"
check "l5: the migration fails, before any switch" test "$E2E_MIGRATE_RC $E2E_MIGRATE_POSTCOPY" != "0 1"
check "l5: the guest keeps running on the source" guest_running src l5
check "l5: the destination has no l5" gone_from dst l5
check "l5: the grant ended with its QEMU" wait_audit "grant-end domain=l5 .*why=\(exited\|revoked\)"
check "l5: no grant remains" no_grants
migrate src dst l5 --postcopy --postcopy-after-precopy --bandwidth 32
check "l5: migrated again, it completes in postcopy" test "$E2E_MIGRATE_RC $E2E_MIGRATE_POSTCOPY" = "0 1"
check "l5: the guest runs on the destination, no DMA error" guest_ok dst l5
host_virsh dst destroy l5 >/dev/null 2>&1

check "no grant expired while bound in any of these migrations" \
    bash -c '! grep -q "why=expired" <<<"$1"' _ "$(audit_dst)"
check "the knob reads 0 at the end" test "$(knob)" = 0
tap_end

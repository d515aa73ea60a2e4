#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end with real libvirtd/virtlogd/QEMU 7.2 at knob 0: postcopy fails without uffd-shim, works with it, scoped to one domain.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib/common.sh"
. "$here/lib/hosts.sh"
. "$here/lib/shim.sh"

e2e_test_begin
require_cmd setpriv
check "knob reads 0 at the start" test "$(knob)" = 0
host_up src && host_up dst || fail_rest "host_up failed"
e2e_guest_image "$E2E_BASE/images/guest.img" 2>"$E2E_BASE/guest-build.log" || fail_rest "guest image"
IMG=$E2E_BASE/images/guest.img

audit_dst() { shim_audit dst; }
no_grants() { shim_no_grants dst; }
PC=(--postcopy --postcopy-after-precopy --bandwidth 32)

# --- Baseline: stock Debian 12 at knob 0 ---------------------------------
guest_start g0 "$IMG" || fail_rest "guest g0 does not start"
migrate src dst g0 "${PC[@]}"
check "baseline: without uffd-shim the migration fails with '$E2E_POSTCOPY_ERROR'" \
    grep -qF "$E2E_POSTCOPY_ERROR" <<<"$E2E_MIGRATE_OUTPUT"
check "baseline: the guest keeps running on the source" test "$(host_domstate src g0)" = running
host_virsh src destroy g0 >/dev/null 2>&1

# --- Install on the destination -------------------------------------------
shim_install || fail_rest "meson install of uffd-shim failed"
shim_config "[grants]" "lifetime=600"
shim_start_broker dst || fail_rest "broker does not start in dst"
hook_install() { shim_hook_install dst >"$E2E_BASE/hook-install.log" 2>&1; local rc=$?; diag "$(cat "$E2E_BASE/hook-install.log")"; return $rc; }
check "uffd-shimctl hook install --reload installs the hook in the destination" hook_install
check "the hook is an executable in the destination's qemu.d" test -x "$(host_root dst)/etc/libvirt/hooks/qemu.d/50-uffd-shim"

# --- Postcopy after precopy --------------------------------------------------
guest_start g1 "$IMG" || fail_rest "guest g1 does not start"
migrate src dst g1 "${PC[@]}"
diag "g1: rc=$E2E_MIGRATE_RC ${E2E_MIGRATE_SECONDS}s postcopy=$E2E_MIGRATE_POSTCOPY $(head -c 300 <<<"$E2E_MIGRATE_OUTPUT")"
check "with uffd-shim: virsh migrate --live --postcopy --postcopy-after-precopy succeeds" test "$E2E_MIGRATE_RC" = 0
check "the migration really switched to postcopy" test "$E2E_MIGRATE_POSTCOPY" = 1
check "the domain runs on the destination" test "$(host_domstate dst g1)" = running
check "and is gone from the source" gone_from src g1
check "the guest makes progress on the destination with no DMA error (kernel-mode faults served)" guest_ok dst g1
check "guest memory is intact after postcopy" memory_ok dst g1
check "the broker audited the hand-outs to g1's QEMU" \
    grep -q "decision=grant reason=ok pid=[0-9]* uid=64055 exe=/usr/bin/qemu-system-x86_64 domain=g1 " <(audit_dst)
check "no grant remains after the migration" no_grants
host_virsh dst destroy g1 >/dev/null 2>&1

# --- --postcopy, manual migrate-postcopy; scoping while in flight ----------
# "other" runs on the destination with the preload too (as a migrated-in
# domain would), so its QEMU really asks the broker; its own disk copy.
cp --sparse=always "$IMG" "$E2E_BASE/images/other.img"
domain_xml other "$E2E_BASE/images/other.img" 128 |
    sed -e "0,/<domain /s|<domain |<domain xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0' |" \
        -e "s|</domain>|<qemu:commandline><qemu:env name='LD_PRELOAD' value='$SHIM_PRELOAD'/></qemu:commandline></domain>|" \
        >"$E2E_BASE/other.xml"
host_virsh dst create "$E2E_BASE/other.xml" >/dev/null || diag "cannot start 'other' on dst"
guest_start g2 "$IMG" || fail_rest "guest g2 does not start"
migrate_bg src dst g2 --postcopy --bandwidth 32
check "in flight: the hook opened a grant for g2 on the destination" shim_wait_grant dst g2
# Another domain, already running on the destination, asks the broker:
# QEMU 7.2 creates a userfaultfd to probe the background-snapshot capability.
other_pid=$(host_domain_pid dst other)
out=$(host_virsh dst qemu-monitor-command other '{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"background-snapshot","state":true}]}}' 2>&1)
diag "other domain: $out"
check "in flight: another domain on the destination cannot get a uffd (denied, not-granted)" \
    grep -q "decision=deny reason=not-granted pid=$other_pid uid=64055" <(audit_dst)
out=$(setpriv --reuid=12345 --regid=12345 --clear-groups "$UFFD_PROBE" syscall --no-fault 2>&1)
check "in flight: an unprivileged local user still gets EPERM from userfaultfd()" grep -q "uffd: EPERM" <<<"$out"
check "in flight: the knob still reads 0" test "$(knob)" = 0
switch_to_postcopy g2
migrate_bg_wait
check "--postcopy then a manual virsh migrate-postcopy succeeds" test "$E2E_MIGRATE_RC" = 0
check "and switched to postcopy" test "$E2E_MIGRATE_POSTCOPY" = 1
check "g2 runs on the destination with no DMA error" guest_ok dst g2
check "after the migration no grant remains (uffd-shimctl grants)" no_grants
host_virsh dst destroy g2 >/dev/null 2>&1
host_virsh dst destroy other >/dev/null 2>&1

# --- Precopy only: nothing handed out, the grant expires --------------------
shim_stop_broker
shim_config "[grants]" "lifetime=8"
shim_start_broker dst || fail_rest "broker restart"
guest_start g3 "$IMG" || fail_rest "guest g3 does not start"
migrate src dst g3
check "a precopy-only migration succeeds" test "$E2E_MIGRATE_RC" = 0
check "its grant was opened" grep -q "grant-create domain=g3 .*result=ok" <(audit_dst)
check "nothing was handed out for it" bash -c '! grep -q "decision=grant .*domain=g3 " <<<"$1"' _ "$(audit_dst)"
for ((i = 0; i < 60; i++)); do no_grants && break; sleep 0.5; done
check "and the grant expired (no grant remains)" grep -q "grant-end domain=g3 .*why=expired" <(audit_dst)
host_virsh dst destroy g3 >/dev/null 2>&1

check "the knob reads 0 at the end" test "$(knob)" = 0
tap_end

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end with a natively patched QEMU 7.2 as destination emulator: no preload, no taint, knob 0.
#
# The migration is switched to postcopy by hand once the destination QEMU
# made its switch-time userfaultfd (at ADVISE): it must keep it, not
# dumpable, until the switch, the switch must ask the broker nothing, and
# afterwards QEMU holds no userfaultfd and is dumpable again.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib/common.sh"
. "$here/lib/hosts.sh"
. "$here/lib/shim.sh"

NATIVE=${UFFD_SHIM_NATIVE_QEMU:-}
[ -n "$NATIVE" ] || skip_all "UFFD_SHIM_NATIVE_QEMU is not set (qemu-patches/build.sh 7.2 OUTDIR builds it)"
e2e_test_begin
[ -x "$NATIVE" ] || { echo "1..1"; echo "not ok 1 - $NATIVE is not executable"; exit 1; }

host_up src && host_up dst || fail_rest "host_up failed"
e2e_guest_image "$E2E_BASE/images/guest.img" 2>"$E2E_BASE/guest-build.log" || fail_rest "guest image"
shim_install || fail_rest "meson install of uffd-shim failed"
shim_config "[qemu]" "emulators=/usr/bin/qemu-system-x86_64;$NATIVE" "[grants]" "lifetime=600"
shim_start_broker dst || fail_rest "broker does not start in dst"
shim_hook_install dst >/dev/null 2>&1 || fail_rest "hook install"
guest_start n1 "$E2E_BASE/images/guest.img" || fail_rest "guest n1 does not start"

# The destination runs the same domain with the patched emulator (--xml).
native_dst_xml n1 "$NATIVE" "$E2E_BASE/n1-dst.xml"
check "the destination definition names the patched emulator" grep -q "<emulator>$NATIVE</emulator>" "$E2E_BASE/n1-dst.xml"
migrate_bg src dst n1 --postcopy --bandwidth 32 --xml "$E2E_BASE/n1-dst.xml"
native_before_switch dst n1 || diag "n1: no request with the LAST hint from the destination QEMU before the switch"
switch_to_postcopy n1 || diag "n1: migrate-postcopy was not accepted"
migrate_bg_wait
diag "n1: rc=$E2E_MIGRATE_RC postcopy=$E2E_MIGRATE_POSTCOPY"
check "knob 0: postcopy to the patched QEMU succeeds" test "$E2E_MIGRATE_RC" = 0
check "the migration really switched to postcopy" test "$E2E_MIGRATE_POSTCOPY" = 1
check "the domain runs on the destination and is gone from the source" \
    bash -c '[ "$1" = running ] && [ -z "$2" ]' _ "$(host_domstate dst n1)" "$(host_domstate src n1)"
check_native_dst dst n1 "$NATIVE" 64055
check_native_switch dst n1 64055
check "the guest makes progress on the destination" guest_running dst n1
serial=$(host_serial_log dst n1)
check "kernel-mode faults served: the guest's DMA error counter is 0" \
    bash -c '! grep -qE "^DMA-(ERR|BAD)" "$1" && tail -n 1 <(grep "^P " "$1") | grep -q "e=00000000$"' _ "$serial"
check "guest memory is intact" memory_ok dst n1
check "no grant remains" shim_no_grants dst
check "the knob reads 0 at the end" test "$(knob)" = 0
tap_end

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The postcopy demo: two libvirt hosts on this machine, knob at 0, migration without and with uffd-shim.
#
# Run as root on Debian 12. Installs its packages, builds uffd-shim, starts
# two private libvirt hosts ("src" and "dst", each its own libvirtd and
# virtlogd in a mount namespace), boots a TCG guest on src that keeps
# dirtying its memory, and runs
#     virsh migrate --live --postcopy --postcopy-after-precopy
# first on the stock stack (fails: "Postcopy is not supported"), then with
# uffd-shim installed on dst (broker + libvirt hook). Everything it starts is
# stopped at the end; vm.unprivileged_userfaultfd is never written.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it starts libvirtd)" >&2; exit 1; }
bash "$top/scripts/deps.sh" || exit 1
. "$top/tests/e2e/lib/hosts.sh"
. "$top/tests/e2e/lib/shim.sh"
trap e2e_cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n== %s\n' "$*"; }
knob() { cat /proc/sys/vm/unprivileged_userfaultfd; }
why=$(e2e_missing_env)
[ -z "$why" ] || { echo "demo: cannot run here: $why" >&2; exit 1; }
[ -c /dev/userfaultfd ] || { echo "demo: this kernel has no /dev/userfaultfd (Linux >= 6.1 needed)" >&2; exit 1; }

say "vm.unprivileged_userfaultfd = $(knob) (the kernel default; this demo never changes it)"
e2e_init || exit 1
say "starting two libvirt hosts on this machine: src and dst"
host_up src && host_up dst || exit 1
e2e_guest_image "$E2E_BASE/images/demo.img" 2>/dev/null || exit 1
guest_start demo "$E2E_BASE/images/demo.img" || exit 1
host_virsh src list

say "1. stock Debian 12 (libvirt 9.0, QEMU 7.2): virsh migrate --live --postcopy --postcopy-after-precopy demo"
migrate src dst demo --postcopy --postcopy-after-precopy --bandwidth 32
echo "exit status $E2E_MIGRATE_RC after ${E2E_MIGRATE_SECONDS}s:"
echo "$E2E_MIGRATE_OUTPUT"
echo "domain on src: $(host_domstate src demo); on dst: $(host_domstate dst demo || true)"

say "2. installing uffd-shim on dst (meson install, uffd-shimd, uffd-shimctl hook install --reload)"
shim_install || exit 1
shim_start_broker dst || exit 1
shim_hook_install dst || exit 1
shim_ctl dst status

say "3. the same migration with uffd-shim on dst"
migrate src dst demo --postcopy --postcopy-after-precopy --bandwidth 32
echo "exit status $E2E_MIGRATE_RC after ${E2E_MIGRATE_SECONDS}s; switched to postcopy: $([ "$E2E_MIGRATE_POSTCOPY" = 1 ] && echo yes || echo no)"
[ -n "$E2E_MIGRATE_OUTPUT" ] && echo "$E2E_MIGRATE_OUTPUT"
echo "domain on src: $(host_domstate src demo || true)$([ -z "$(host_domstate src demo)" ] && echo '(gone)'); on dst: $(host_domstate dst demo)"
sleep 2
echo "guest serial output on dst (last lines; e= counts failed DMA transfers):"
tail -n 3 "$(host_serial_log dst demo)"
grep -E "^(job|postcopy|downtime)|Post-copy" "$E2E_MIGRATE_LOG" 2>/dev/null | head -5

say "4. the broker's audit log on dst"
shim_audit dst
say "5. grants left on dst"
shim_ctl dst grants
say "vm.unprivileged_userfaultfd = $(knob)"
[ "$E2E_MIGRATE_RC" = 0 ] && [ "$E2E_MIGRATE_POSTCOPY" = 1 ]

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end on libvirt 11.x + QEMU 10.x at knob 0: the default gives every domain /dev/userfaultfd; the documented ACL, hook and broker scope it to the migrating one.
#
# Needs UFFD_SHIM_NEWER_ROOT (tests/newer-stack/setup-root.sh) and, for
# the patched-QEMU part, UFFD_SHIM_NATIVE_QEMU10 (qemu-patches/build.sh
# 10.x OUTDIR, then OUTDIR/bin/qemu-system-x86_64); scripts/test.sh
# provides both. The uffd-shim prefix and the guest image are built with
# the machine's toolchain first; the test then runs itself again inside a
# private mount namespace with the root's /usr and /etc
# (tests/newer-stack/lib/newer.sh), where the e2e libraries start two
# libvirt 11.x "hosts".
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib/common.sh"
. "$here/../e2e/lib/hosts.sh"
. "$here/../e2e/lib/shim.sh"
. "$here/lib/newer.sh"

NATIVE=${UFFD_SHIM_NATIVE_QEMU10:-}

if [ "${UFFD_NEWER_INSIDE:-0}" != 1 ]; then
    ROOT=${UFFD_SHIM_NEWER_ROOT:-}
    [ -n "$ROOT" ] || skip_all "UFFD_SHIM_NEWER_ROOT is not set (tests/newer-stack/setup-root.sh builds the root)"
    newer_root_ok "$ROOT" || skip_all "UFFD_SHIM_NEWER_ROOT=$ROOT is not a root made by tests/newer-stack/setup-root.sh"
    e2e_test_begin
    require_cmd setpriv unshare nsenter
    e2e_guest_image "$E2E_BASE/images/guest.img" 2>"$E2E_BASE/guest-build.log" || fail_rest "guest image"
    shim_install || fail_rest "meson install of uffd-shim failed"
    install -m 0755 "$UFFD_PROBE" "$E2E_BASE/probe"
    export E2E_BASE SHIM_PREFIX UFFD_NEWER_INSIDE=1
    newer_enter "$ROOT" env PATH="$E2E_PATH" bash "${BASH_SOURCE[0]}"
    exit $?
fi

# --- inside: the root's libvirt and QEMU -------------------------------------
on_exit e2e_cleanup
IMG=$E2E_BASE/images/guest.img
PROBE=$E2E_BASE/probe
DUMPS=$E2E_BASE/dumps
SHIM_PRELOAD=$SHIM_PREFIX/lib/uffd-shim/libuffd-shim-preload.so
QEMU_USER=libvirt-qemu
QUID=$(id -u "$QEMU_USER") && QGID=$(id -g "$QEMU_USER") || fail_rest "no user $QEMU_USER in the root"

check "the root's libvirtd is 11.x" bash -c 'libvirtd --version | grep -qE " 11\.[0-9]+"'
check "the root's QEMU is 10.x" bash -c 'qemu-system-x86_64 --version | grep -qE "version 10\.[0-9]+"'
diag "$(libvirtd --version) / $(qemu-system-x86_64 --version | head -n 1)"
check "knob reads 0 at the start" test "$(knob)" = 0

# sandbox_probe QEMUPID MODE: the probe as that QEMU's user, in its mount
# namespace (its private /dev); libvirt puts the test hosts' domains in no
# cgroup (hosts.sh: cgroup_controllers = [ ]).
sandbox_probe() {
    nsenter -t "$1" -m -- setpriv --reuid="$QUID" --regid="$QGID" --clear-groups \
        --inh-caps=-all --bounding-set=-all -- "$PROBE" "$2" 2>&1
}
# has_node QEMUPID: /dev/userfaultfd exists in that QEMU's /dev.
has_node() { [ -e "/proc/$1/root/dev/userfaultfd" ]; }
# holds_device QEMUPID: the process has /dev/userfaultfd open.
holds_device() {
    local f
    for f in /proc/"$1"/fd/*; do
        [ "$(readlink "$f" 2>/dev/null)" = /dev/userfaultfd ] && return 0
    done
    return 1
}
lacks_device() { ! holds_device "$1"; }
lacks_node() { ! has_node "$1"; }
doctor_acl_line() { # HOST: the doctor's libvirt check, with its detail and fix lines
    shim_ctl "$1" doctor 2>&1 |
        awk '/libvirt does not give \/dev\/userfaultfd to every domain/ { p = 1; print; next }
             p && /: (PASS|WARN|FAIL|SKIP)$/ { exit } p'
}
add_preload() { # XML-FILE: the domain XML with the preload in its environment
    sed -e "0,/<domain /s|<domain |<domain xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0' |" \
        -e "s|</domain>|<qemu:commandline><qemu:env name='LD_PRELOAD' value='$SHIM_PRELOAD'/></qemu:commandline></domain>|" "$1"
}
PC=(--postcopy --postcopy-after-precopy --bandwidth 32)

emulators=/usr/bin/qemu-system-x86_64
[ -n "$NATIVE" ] && emulators="$emulators;$NATIVE"
shim_config "[qemu]" "emulators=$emulators" "[grants]" "lifetime=600"
host_up src && host_up dst || fail_rest "host_up failed"

# --- libvirt's default: every domain may make kernel-fault uffds ---------------
doc=$(doctor_acl_line dst)
diag "doctor, libvirt's default qemu.conf:" "$doc"
check "doctor: libvirt's default cgroup_device_acl is a WARN" \
    grep -qE "libvirt does not give /dev/userfaultfd to every domain +: WARN" <<<"$doc"
check "doctor: it names libvirt 11.x putting /dev/userfaultfd into every domain's /dev" \
    grep -qE "libvirt 11\.[0-9.]+ with the default cgroup_device_acl puts /dev/userfaultfd into every domain's /dev" <<<"$doc"
fixline=$(grep -o 'cgroup_device_acl = \[[^]]*\]' <<<"$doc" | head -n 1)
check "doctor: the fix is libvirt's default ACL without /dev/userfaultfd" test \
    "$fixline" = 'cgroup_device_acl = [ "/dev/null", "/dev/full", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/ptmx", "/dev/kvm" ]'

cp --sparse=always "$IMG" "$E2E_BASE/images/idle.img"
host_start_domain dst idle "$E2E_BASE/images/idle.img" || fail_rest "domain idle does not start on dst"
idle_pid=$(host_domain_pid dst idle)
check "default: a domain that is not migrating has /dev/userfaultfd in its /dev" has_node "$idle_pid"
check "default: owned by $QEMU_USER, mode 0600" \
    test "$(stat -c '%u %a' "/proc/$idle_pid/root/dev/userfaultfd" 2>/dev/null)" = "$QUID 600"
out=$(sandbox_probe "$idle_pid" device)
diag "probe device in idle's sandbox: $(tr '\n' ' ' <<<"$out")"
check "default: in its sandbox, as $QEMU_USER, /dev/userfaultfd makes a full uffd (no UFFD_USER_MODE_ONLY)" \
    grep -qx "uffd: ok" <<<"$out"
check "default: and that uffd resolves a kernel-mode fault" grep -qx "kernel-fault: resolved" <<<"$out"
out=$(sandbox_probe "$idle_pid" syscall)
check "default: (the system call itself still says EPERM: the knob is 0)" grep -qx "uffd: EPERM" <<<"$out"

guest_start g0 "$IMG" || fail_rest "guest g0 does not start"
migrate src dst g0 "${PC[@]}"
diag "g0: rc=$E2E_MIGRATE_RC ${E2E_MIGRATE_SECONDS}s postcopy=$E2E_MIGRATE_POSTCOPY $(head -c 300 <<<"$E2E_MIGRATE_OUTPUT")"
check "default: postcopy at knob 0 works without uffd-shim" \
    bash -c '[ "$1" = 0 ] && [ "$2" = 1 ]' _ "$E2E_MIGRATE_RC" "$E2E_MIGRATE_POSTCOPY"
g0_pid=$(host_domain_pid dst g0)
check "default: after the migration its QEMU still holds /dev/userfaultfd (for its life)" holds_device "$g0_pid"
host_virsh dst destroy g0 >/dev/null 2>&1
host_virsh dst destroy idle >/dev/null 2>&1

# --- the documented configuration: doctor's fix, broker, hook ------------------
qc=$(host_dir dst)/etc/qemu.conf
[ -n "$fixline" ] || fixline='cgroup_device_acl = [ "/dev/null", "/dev/full", "/dev/zero", "/dev/random", "/dev/urandom", "/dev/ptmx", "/dev/kvm" ]'
printf '%s\n' "$fixline" >>"$qc"
host_restart_libvirtd dst || fail_rest "libvirtd of dst does not restart"
doc=$(doctor_acl_line dst)
diag "doctor, with the fix:" "$doc"
check "doctor: with the fix applied the check passes" \
    grep -qE "libvirt does not give /dev/userfaultfd to every domain +: PASS" <<<"$doc"
shim_start_broker dst || fail_rest "broker does not start in dst"
shim_hook_install dst >"$E2E_BASE/hook-install.log" 2>&1 || fail_rest "hook install: $(cat "$E2E_BASE/hook-install.log")"

# "other" runs on the destination with the preload (as a migrated-in domain
# has it), so its QEMU really asks the broker when it wants a uffd.
cp --sparse=always "$IMG" "$E2E_BASE/images/other.img"
domain_xml other "$E2E_BASE/images/other.img" 128 >"$E2E_BASE/other-plain.xml"
add_preload "$E2E_BASE/other-plain.xml" >"$E2E_BASE/other.xml"
host_virsh dst create "$E2E_BASE/other.xml" >/dev/null || fail_rest "cannot start 'other' on dst"
other_pid=$(host_domain_pid dst other)

guest_start g1 "$IMG" || fail_rest "guest g1 does not start"
migrate_bg src dst g1 --postcopy --bandwidth 32
check "in flight: the hook opened a grant for g1 on the destination" shim_wait_grant dst g1
check "in flight: the other domain has no /dev/userfaultfd in its /dev" lacks_node "$other_pid"
out=$(sandbox_probe "$other_pid" device)
check "in flight: in its sandbox the device cannot be opened" grep -qx "uffd: No such file or directory" <<<"$out"
out=$(sandbox_probe "$other_pid" syscall)
check "in flight: in its sandbox userfaultfd() says EPERM" grep -qx "uffd: EPERM" <<<"$out"
# QEMU 10 makes a userfaultfd to check the background-snapshot capability.
out=$(host_virsh dst qemu-monitor-command other '{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"background-snapshot","state":true}]}}' 2>&1)
diag "other domain: $out"
check "in flight: its QEMU asks the broker and is denied (not-granted, audited)" \
    grep -q "decision=deny reason=not-granted pid=$other_pid uid=$QUID" <(shim_audit dst)
check "in flight: and gets no uffd (QEMU refuses the capability)" grep -qi "error" <<<"$out"
switch_to_postcopy g1
migrate_bg_wait
g1_pid=$(host_domain_pid dst g1)
check "preload, stock QEMU 10: --postcopy then virsh migrate-postcopy succeeds at knob 0" test "$E2E_MIGRATE_RC" = 0
check "and switched to postcopy" test "$E2E_MIGRATE_POSTCOPY" = 1
check "g1 runs on the destination and is gone from the source" \
    bash -c '[ "$1" = running ] && [ -z "$2" ]' _ "$(host_domstate dst g1)" "$(host_domstate src g1)"
check "its QEMU is the root's stock binary, with the preload from the hook" \
    bash -c '[ "$(readlink /proc/$1/exe)" = /usr/bin/qemu-system-x86_64 ] &&
        tr "\0" "\n" <"/proc/$1/environ" | grep -qx "LD_PRELOAD=$2"' _ "$g1_pid" "$SHIM_PRELOAD"
check "the broker handed the device to g1's QEMU (audit)" \
    grep -q "decision=grant reason=ok pid=$g1_pid uid=$QUID exe=/usr/bin/qemu-system-x86_64 domain=g1 " <(shim_audit dst)
check "the preload kept its switch-time userfaultfd (HOLD hint), the switch asked nothing (no LAST request)" \
    bash -c 'grep -q "decision=grant reason=ok pid=$1 .* domain=g1 .*hold=yes" <<<"$2" &&
        ! grep -q "decision=grant .* domain=g1 .*last=yes" <<<"$2"' _ "$g1_pid" "$(shim_audit dst)"
check "g1 makes progress with no DMA error (kernel-mode faults served)" guest_ok dst g1
check "g1's memory is intact after postcopy" memory_ok dst g1
check "no grant remains after the migration" shim_no_grants dst
check "scoping: g1's QEMU holds no /dev/userfaultfd after the migration" lacks_device "$g1_pid"
check "scoping: g1 has no /dev/userfaultfd node" lacks_node "$g1_pid"
out=$(sandbox_probe "$g1_pid" device; sandbox_probe "$g1_pid" syscall)
check "scoping: in g1's sandbox neither the device nor the system call gives a uffd now" \
    bash -c 'grep -qx "uffd: No such file or directory" <<<"$1" && grep -qx "uffd: EPERM" <<<"$1"' _ "$out"
check "the domain log has no refusal by the broker" \
    bash -c '! grep -q "uffd-shim-preload: broker refused" "$1"' _ "$(host_root dst)/var/log/libvirt/qemu/g1.log"
host_virsh dst destroy g1 >/dev/null 2>&1
host_virsh dst destroy other >/dev/null 2>&1

# --- the patched QEMU 10: native, no preload, not tainted ------------------------
native_section() {
    guest_start n1 "$IMG" || { not_ok "guest n1 does not start"; return; }
    native_dst_xml n1 "$NATIVE" "$E2E_BASE/n1-dst.xml"
    # switched by hand once QEMU made its switch-time userfaultfd (ADVISE)
    migrate_bg src dst n1 --postcopy --bandwidth 32 --xml "$E2E_BASE/n1-dst.xml"
    native_before_switch dst n1 || diag "n1: no request with the LAST hint from the destination QEMU before the switch"
    switch_to_postcopy n1 || diag "n1: migrate-postcopy was not accepted"
    migrate_bg_wait
    diag "n1: rc=$E2E_MIGRATE_RC postcopy=$E2E_MIGRATE_POSTCOPY"
    check "patched QEMU 10: postcopy succeeds at knob 0" test "$E2E_MIGRATE_RC" = 0
    check "and switched to postcopy" test "$E2E_MIGRATE_POSTCOPY" = 1
    local qpid
    qpid=$(host_domain_pid dst n1)
    check_native_dst dst n1 "$NATIVE" "$QUID"
    check_native_switch dst n1 "$QUID"
    check "n1 makes progress with no DMA error" guest_ok dst n1
    check "n1's memory is intact" memory_ok dst n1
    check "no grant remains" shim_no_grants dst
    check "scoping: the patched QEMU holds no /dev/userfaultfd after the migration" lacks_device "$qpid"
    host_virsh dst destroy n1 >/dev/null 2>&1
}
if [ -n "$NATIVE" ] && [ -x "$NATIVE" ]; then
    native_section
elif [ "${UFFD_SHIM_REQUIRE_ALL:-0}" = 1 ]; then
    not_ok "patched QEMU 10: UFFD_SHIM_NATIVE_QEMU10 is not set or not executable (qemu-patches/build.sh 10.x OUTDIR)"
else
    ok "# SKIP patched QEMU 10: UFFD_SHIM_NATIVE_QEMU10 is not set (qemu-patches/build.sh 10.x OUTDIR)"
fi

check "the knob reads 0 at the end" test "$(knob)" = 0
tap_end

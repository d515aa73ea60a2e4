#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end with libvirt 9.0 at knob 0: a <disk type='vhostuser'> served by qemu-storage-daemon on each host, postcopy through the broker.
#
# Each host runs its own qemu-storage-daemon (the libvhost-user fixes,
# UFFD_SHIM_TEST_QSD) as libvirt-qemu on a socket in its private /run; the
# destination's daemon has the preload. The broker there knows the daemon
# only as [backend] user and executables. The guest (tests/guest, VIRTIO=1)
# reads through the vhost-user disk; after the switch the daemon's pread()
# meets guest pages still on the source.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib/common.sh"
. "$here/lib/hosts.sh"
. "$here/lib/shim.sh"

QSD=${UFFD_SHIM_TEST_QSD:-}
[ -n "$QSD" ] && [ -x "$QSD" ] ||
    skip_all "needs a qemu-storage-daemon with the libvhost-user postcopy fixes (UFFD_SHIM_TEST_QSD, built by qemu-patches/build-qsd.sh)"
e2e_test_begin
require_cmd setpriv
QEMU_UID=64055
check "knob reads 0 at the start" test "$(knob)" = 0
host_up src && host_up dst || fail_rest "host_up failed"
e2e_guest_image "$E2E_BASE/images/vu.img" VIRTIO=1 2>"$E2E_BASE/guest-build.log" || fail_rest "guest image"
IMG=$E2E_BASE/images/vu.img
install -m 0644 "$IMG" "$E2E_BASE/images/vu-data.img"   # what the daemons export, read-only
SOCK=/run/vhost/vu.sock

# start_qsd HOST PRELOAD(yes|no): the host's daemon on $SOCK; QSD_PID_<HOST>.
start_qsd() {
    local host=$1 envw=(env) i root holder
    root=$(host_root "$host") || return 1
    [ "$2" = yes ] && envw=(env "LD_PRELOAD=$SHIM_PRELOAD")
    host_exec "$host" mkdir -p -m 0755 /run/vhost && host_exec "$host" chown "$QEMU_UID" /run/vhost || return 1
    holder=$(_e2e_holder "$host") || return 1
    # nsenter (no fork) and setpriv exec: $! is the daemon's pid
    ( umask 007; exec nsenter -t "$holder" -m -- setpriv --reuid="$QEMU_UID" \
        --regid="$QEMU_UID" --clear-groups --inh-caps=-all --bounding-set=-all -- "${envw[@]}" \
        "$QSD" --blockdev "driver=file,node-name=disk,filename=$E2E_BASE/images/vu-data.img,read-only=on" \
        --export "type=vhost-user-blk,id=exp0,node-name=disk,addr.type=unix,addr.path=$SOCK,writable=off" \
    ) >"$E2E_BASE/qsd-$host.log" 2>&1 &
    eval "QSD_PID_$host=$!"
    on_exit "stop_pid $!"
    for ((i = 0; i < 100; i++)); do
        [ -S "$root$SOCK" ] && return 0
        sleep 0.05
    done
    diag "qsd on $host did not start: $(cat "$E2E_BASE/qsd-$host.log")"
    return 1
}

# vu_domain_xml NAME: domain_xml plus shared memory and the vhost-user disk.
vu_domain_xml() {
    domain_xml "$1" "$IMG" 128 | sed \
        -e "s|</currentMemory>|</currentMemory>\n  <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>|" \
        -e "s|<controller type='usb' model='none'/>|<disk type='vhostuser' device='disk' model='virtio-non-transitional'>\n      <driver name='qemu' type='raw'/>\n      <source type='unix' path='$SOCK'><reconnect enabled='yes' timeout='10'/></source>\n      <target dev='vdb' bus='virtio'/>\n    </disk>\n    <controller type='usb' model='none'/>|"
}

shim_install || fail_rest "meson install of uffd-shim failed"
shim_config "[grants]" "lifetime=600" "[backend]" "user=$QEMU_UID" "executables=$QSD"
shim_start_broker dst || fail_rest "broker does not start in dst"
shim_hook_install dst >"$E2E_BASE/hook-install.log" 2>&1 || fail_rest "hook install: $(cat "$E2E_BASE/hook-install.log")"
start_qsd src no || fail_rest "qsd on src"

# vu_start NAME: the domain on src, running and reading through the disk.
vu_start() {
    local i
    vu_domain_xml "$1" >"$E2E_BASE/$1.xml"
    host_virsh src create "$E2E_BASE/$1.xml" >"$E2E_BASE/create-$1.log" 2>&1 || {
        diag "virsh create: $(cat "$E2E_BASE/create-$1.log")"
        return 1
    }
    for ((i = 0; i < 300; i++)); do [ "$(guest_progress src "$1")" -ge 2 ] && break; sleep 0.1; done
    grep -q "^GUEST-START vio=" "$(host_serial_log src "$1")" && guest_ok src "$1"
}

# --- The destination's daemon without the device: no postcopy -------------
start_qsd dst no || fail_rest "qsd on dst"
check "a domain with a vhost-user disk runs on the source, reading through the disk" vu_start vu0
migrate src dst vu0 --postcopy --postcopy-after-precopy --bandwidth 32
diag "vu0: rc=$E2E_MIGRATE_RC $(head -c 300 <<<"$E2E_MIGRATE_OUTPUT")"
check "with the destination's daemon not asking the broker, the migration fails with '$E2E_POSTCOPY_ERROR'" \
    grep -qF "$E2E_POSTCOPY_ERROR" <<<"$E2E_MIGRATE_OUTPUT"
check "... because the daemon offered no postcopy" \
    grep -q "vhost-user backend not capable of postcopy" "$(host_root dst)/var/log/libvirt/qemu/vu0.log"
check "the guest keeps running on the source" guest_running src vu0
host_virsh src destroy vu0 >/dev/null 2>&1
stop_pid "$QSD_PID_dst"

# --- With the preload: postcopy through the broker ----------------------------
start_qsd dst yes || fail_rest "qsd on dst"
DST_QSD=$QSD_PID_dst
check "a second domain runs on the source, reading through the disk" vu_start vu1

migrate src dst vu1 --postcopy --postcopy-after-precopy --bandwidth 32 --postcopy-bandwidth 20
diag "vu1: rc=$E2E_MIGRATE_RC ${E2E_MIGRATE_SECONDS}s postcopy=$E2E_MIGRATE_POSTCOPY $(head -c 400 <<<"$E2E_MIGRATE_OUTPUT")"
check "virsh migrate --live --postcopy --postcopy-after-precopy succeeds" test "$E2E_MIGRATE_RC" = 0
check "the migration really switched to postcopy" test "$E2E_MIGRATE_POSTCOPY" = 1
check "the domain runs on the destination" test "$(host_domstate dst vu1)" = running
check "the guest makes progress on the destination, every read through the daemon intact" guest_ok dst vu1
check "guest memory is intact after postcopy" memory_ok dst vu1
n=$(shim_audit dst | grep -c "decision=grant role=backend reason=ok pid=$DST_QSD uid=$QEMU_UID exe=$QSD domain=vu1 .*socket=$SOCK ")
diag "hand-outs to the destination's daemon: $n; to QEMU: $(shim_audit dst | grep -c 'decision=grant reason=ok .*domain=vu1')"
check "the broker handed the device to the destination's daemon" test "$n" -ge 2
check "and to no other back-end" test "$(shim_audit dst | grep -c 'decision=grant role=backend')" = "$n"
check "no grant remains after the migration" shim_no_grants dst
host_virsh dst destroy vu1 >/dev/null 2>&1
check "the knob still reads 0" test "$(knob)" = 0
tap_end

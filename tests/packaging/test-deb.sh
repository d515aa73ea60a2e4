#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Debian packages: build them in a temp copy, lintian, install with dpkg, doctor against the installed files, purge.
#
# Slow (a full dpkg-buildpackage and lintian run) and it installs packages on
# this machine, so it is in its own suite: meson test --suite packaging.
# The machine is restored: the packages are purged at the end, and the test
# refuses to run if uffd-shim packages are already installed.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_cmd dpkg-buildpackage dh lintian dpkg-deb tar strings
SRC=${UFFD_SHIM_SRCDIR:-$(cd "$TESTS_DIR/.." && pwd)}
[ -f "$SRC/debian/control" ] || skip_all "no debian/ in $SRC"
PKGS=(uffd-shim libuffd-shim0 libuffd-shim-dev)
for p in "${PKGS[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed"; then
        echo "1..1"; echo "not ok 1 - $p is already installed; this test would remove it"; exit 1
    fi
done
make_workdir

# 1. Build from a clean copy of the tree (no build/, no .git).
mkdir -p "$WORK/src/uffd-shim"
tar -C "$SRC" --exclude=./build --exclude='./build-*' --exclude=./.git --exclude=./obj-\* -cf - . |
    tar -C "$WORK/src/uffd-shim" -xf -
t0=$(date +%s)
(cd "$WORK/src/uffd-shim" && dpkg-buildpackage -us -uc -b) >"$WORK/build.log" 2>&1
rc=$?
t1=$(date +%s)
diag "dpkg-buildpackage -us -uc -b: exit $rc in $((t1 - t0)) s"
check "dpkg-buildpackage -us -uc -b builds the packages" test $rc = 0
[ $rc = 0 ] || { tail -n 40 "$WORK/build.log" | sed 's/^/# /'; tap_end; }
ver=$(cd "$WORK/src/uffd-shim" && dpkg-parsechangelog -S Version)
arch=$(dpkg --print-architecture)
debs=()
for p in "${PKGS[@]}"; do debs+=("$WORK/src/${p}_${ver}_${arch}.deb"); done
check "three packages: ${PKGS[*]}" bash -c 'ls "$@" >/dev/null' _ "${debs[@]}"

# 2. lintian: no errors (warnings are reported).
changes=$WORK/src/uffd-shim_${ver}_${arch}.changes
lintian --tag-display-limit 0 "$changes" >"$WORK/lintian.txt" 2>&1
diag "lintian:" "$(cat "$WORK/lintian.txt")"
check "lintian reports no errors" bash -c '! grep -q "^E: " "$1"' _ "$WORK/lintian.txt"

# 3. The layout: what the hook and the preload are, where the code expects them.
contents() { dpkg-deb -c "$1" | awk '{print $6}' | sed 's|^\.||'; }
contents "${debs[0]}" >"$WORK/uffd-shim.list"
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
preload=/usr/lib/$multiarch/uffd-shim/libuffd-shim-preload.so
for f in /usr/sbin/uffd-shimd /usr/sbin/uffd-shimctl /usr/libexec/uffd-shim-hook "$preload" \
    /lib/systemd/system/uffd-shimd.service /lib/systemd/system/uffd-shimd.socket \
    /lib/systemd/system/uffd-shimd-admin.socket /usr/lib/tmpfiles.d/uffd-shim.conf \
    /etc/uffd-shim/uffd-shim.conf.example /usr/share/uffd-shim/apparmor/uffd-shim-qemu \
    /usr/share/uffd-shim/selinux/uffd_shim.te /usr/share/man/man8/uffd-shimctl.8.gz; do
    check "uffd-shim ships $f" grep -qx "$f" "$WORK/uffd-shim.list"
done

# 4. Install on this machine (purged at exit, whatever happens). The
# postinst's systemd-tmpfiles creates /run/uffd-shim: removed again if new.
[ -e /run/uffd-shim ] || on_exit "rmdir /run/uffd-shim 2>/dev/null"
on_exit "dpkg --purge ${PKGS[*]} >>'$WORK/purge.log' 2>&1"
DEBIAN_FRONTEND=noninteractive dpkg -i "${debs[@]}" >"$WORK/install.log" 2>&1
check "dpkg -i installs the three packages" test $? = 0 || sed 's/^/# /' "$WORK/install.log"
check "the installed hook is where uffd-shimctl installs it from" \
    bash -c 'strings /usr/sbin/uffd-shimctl | grep -qx /usr/libexec/uffd-shim-hook && test -x /usr/libexec/uffd-shim-hook'
check "the example configuration's preload path is the installed preload" \
    bash -c 'grep -q "^#preload=$1$" /etc/uffd-shim/uffd-shim.conf.example && test -f "$1"' _ "$preload"
check "the installed hook puts the installed preload into QEMU's environment" \
    bash -c 'strings /usr/libexec/uffd-shim-hook | grep -qx "$1"' _ "$preload"
check "uffd-shimd --check-config accepts the shipped example configuration" \
    bash -c '/usr/sbin/uffd-shimd --check-config -c /etc/uffd-shim/uffd-shim.conf.example | sed "s/^/# /"; exit "${PIPESTATUS[0]}"'
[ -e /etc/uffd-shim/uffd-shim.conf ] ||
    check "... and fails, naming the file, while /etc/uffd-shim/uffd-shim.conf does not exist" \
        bash -c '! /usr/sbin/uffd-shimd --check-config 2>&1 | grep -q "uffd-shim.conf: OK" && /usr/sbin/uffd-shimd --check-config 2>&1 | grep -q "/etc/uffd-shim/uffd-shim.conf: .*No such file"'

# 5. The doctor against the installed files, with the installed broker running.
# A private run directory and configuration: never the host's /run/uffd-shim.
mkdir -p "$WORK/run" "$WORK/libvirt"
chmod 0755 "$WORK/run" "$WORK/libvirt"
printf '[broker]\nsocket=%s\nadmin-socket=%s\nstate-dir=%s\n[qemu]\nlibvirt-run-dir=%s\n' \
    "$WORK/run/uffd.sock" "$WORK/run/admin.sock" "$WORK/run" "$WORK/libvirt" >"$WORK/broker.conf"
before_hook=$(ls /etc/libvirt/hooks/qemu.d/50-uffd-shim 2>/dev/null)
/usr/sbin/uffd-shimd --config "$WORK/broker.conf" >"$WORK/broker.log" 2>&1 &
BPID=$!
on_exit "stop_pid $BPID"
for ((i = 0; i < 100; i++)); do /usr/sbin/uffd-shimctl -c "$WORK/broker.conf" status >/dev/null 2>&1 && break; sleep 0.05; done
/usr/sbin/uffd-shimctl hook install --hooks-dir="$WORK/hooks" >/dev/null 2>&1
UFFD_SHIM_LIBVIRT_HOOKS_DIR=$WORK/hooks /usr/sbin/uffd-shimctl -c "$WORK/broker.conf" doctor >"$WORK/doctor.txt" 2>&1
drc=$?
diag "uffd-shimctl doctor (installed):" "$(cat "$WORK/doctor.txt")"
check "doctor: the installed broker answers" grep -Eq "uffd-shimd answers on its admin socket +: PASS" "$WORK/doctor.txt"
check "doctor: the installed socket permissions pass" grep -Eq "broker socket permissions +: PASS" "$WORK/doctor.txt"
check "doctor: the hook installed from the package passes" grep -Eq "libvirt qemu hook installed +: PASS" "$WORK/doctor.txt"
check "doctor: exit status $drc is 1 exactly when a check FAILs" \
    bash -c '[ "$(grep -c ": FAIL$" "$1")" -gt 0 ] && [ "$2" = 1 ] || { [ "$(grep -c ": FAIL$" "$1")" = 0 ] && [ "$2" = 0 ]; }' _ "$WORK/doctor.txt" "$drc"
stop_pid "$BPID"
check "the host's own hook directory was not touched" test "$(ls /etc/libvirt/hooks/qemu.d/50-uffd-shim 2>/dev/null)" = "$before_hook"

# 6. The end-to-end postcopy migration against the installed files: two
# libvirt hosts, knob 0, the packaged broker started in the destination,
# the packaged hook installed there by the packaged uffd-shimctl.
. "$TESTS_DIR/e2e/lib/hosts.sh"
. "$TESTS_DIR/e2e/lib/shim.sh"
on_exit e2e_cleanup
SHIM_PREFIX=/usr
if e2e_init && host_up src && host_up dst && e2e_guest_image "$E2E_BASE/images/g.img" 2>/dev/null &&
    shim_install && shim_start_broker dst && shim_hook_install dst >/dev/null 2>&1 &&
    guest_start pkg1 "$E2E_BASE/images/g.img"; then
    migrate src dst pkg1 --postcopy --postcopy-after-precopy --bandwidth 32
    diag "pkg1: rc=$E2E_MIGRATE_RC ${E2E_MIGRATE_SECONDS}s postcopy=$E2E_MIGRATE_POSTCOPY"
    check "installed files: virsh migrate --live --postcopy succeeds at knob $(knob)" \
        test "$E2E_MIGRATE_RC:$E2E_MIGRATE_POSTCOPY:$(knob)" = "0:1:0"
    check "installed files: the domain runs on the destination" guest_running dst pkg1
    check "installed files: the packaged broker served the packaged preload in QEMU" \
        grep -q "decision=grant reason=ok .*exe=/usr/bin/qemu-system-x86_64 domain=pkg1 " <(shim_audit dst)
    check "installed files: no grant remains" shim_no_grants dst
else
    not_ok "installed files: the two libvirt hosts with the packaged uffd-shim could not be set up"
fi
e2e_cleanup

# 7. Purge restores the machine.
dpkg --purge "${PKGS[@]}" >"$WORK/purge.log" 2>&1
check "dpkg --purge removes the packages" test $? = 0
check "nothing of uffd-shim is left in /usr, /lib, /etc" \
    bash -c '! ls /usr/sbin/uffd-shimd /usr/libexec/uffd-shim-hook /usr/lib/*/uffd-shim /lib/systemd/system/uffd-shimd.service /etc/uffd-shim 2>/dev/null | grep -q .'
tap_end

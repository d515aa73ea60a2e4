#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Debian packages: the previous release installed and upgraded with a grant open, lintian, layout, doctor, a migration, remove and purge.
#
# Slow (two dpkg-buildpackage runs, lintian, a migration: several minutes)
# and it installs packages on this machine, so it is in its own suite:
# meson test --suite packaging. The machine is restored: the packages are
# purged at the end, and the test refuses to run if uffd-shim packages or a
# hook of that name are already there. The package manages the host's
# /etc/libvirt/hooks/qemu.d/50-uffd-shim and /run/uffd-shim (no libvirt
# daemon of the machine runs; the e2e hosts have their own).
#
# The previous release is built from git: the tree just before the commit
# that added the current debian/changelog version (found by content, so the
# commit's hash may change); without git history, a copy of this tree with
# a lower version stands in for it.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_cmd dpkg-buildpackage dh lintian dpkg-deb tar strings
SRC=${UFFD_SHIM_SRCDIR:-$(cd "$TESTS_DIR/.." && pwd)}
[ -f "$SRC/debian/control" ] || skip_all "no debian/ in $SRC"
PKGS=(uffd-shim libuffd-shim0 libuffd-shim-dev)
HOOK=/etc/libvirt/hooks/qemu.d/50-uffd-shim
MARKER=uffd-shim-hook-marker:9f0b3c1e-6a52-4d3e-8c1f-2b7d5e4a9c60
AA_LOCAL=/etc/apparmor.d/local/abstractions/libvirt-qemu
for p in "${PKGS[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed"; then
        echo "1..1"; echo "not ok 1 - $p is already installed; this test would remove it"; exit 1
    fi
done
if [ -e "$HOOK" ] || [ -e /run/uffd-shim/admin.sock ]; then
    echo "1..1"; echo "not ok 1 - $HOOK or /run/uffd-shim/admin.sock exists; this test would replace it"; exit 1
fi
make_workdir
aa_local_before=$(cat "$AA_LOCAL" 2>/dev/null | sha256sum)
[ -d /etc/libvirt/hooks ] || on_exit "rmdir /etc/libvirt/hooks/qemu.d /etc/libvirt/hooks 2>/dev/null"

# build_debs DIR: dpkg-buildpackage -b in DIR; sets VER; exit status.
build_debs() {
    local t0=$(date +%s) rc
    (cd "$1" && dpkg-buildpackage -us -uc -b) >"$1.build.log" 2>&1
    rc=$?
    diag "dpkg-buildpackage -us -uc -b in $(basename "$1"): exit $rc in $(( $(date +%s) - t0 )) s"
    [ $rc = 0 ] || { tail -n 40 "$1.build.log" | sed 's/^/# /'; return 1; }
    VER=$(cd "$1" && dpkg-parsechangelog -S Version)
}
arch=$(dpkg --print-architecture)
debs_of() { local p; for p in "${PKGS[@]}"; do echo "$(dirname "$1")/${p}_${2}_${arch}.deb"; done; }

# 1. This tree, from a clean copy (no build/, no .git).
mkdir -p "$WORK/src/uffd-shim" "$WORK/prev"
tar -C "$SRC" --exclude=./build --exclude='./build-*' --exclude=./.git --exclude=./obj-\* -cf - . |
    tar -C "$WORK/src/uffd-shim" -xf -
check "dpkg-buildpackage -us -uc -b builds the packages" build_debs "$WORK/src/uffd-shim" || tap_end
ver=$VER
mapfile -t debs < <(debs_of "$WORK/src/uffd-shim" "$ver")
check "three packages: ${PKGS[*]}" bash -c 'ls "$@" >/dev/null' _ "${debs[@]}"

# 2. The previous release.
prev_commit=
if git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1; then
    c=$(git -C "$SRC" log -n 1 --format=%H -S"uffd-shim ($ver)" -- debian/changelog 2>/dev/null)
    [ -n "$c" ] && git -C "$SRC" rev-parse -q --verify "$c^" >/dev/null && prev_commit=$(git -C "$SRC" rev-parse "$c^")
fi
mkdir -p "$WORK/prev/uffd-shim"
if [ -n "$prev_commit" ]; then
    git -C "$SRC" archive "$prev_commit" | tar -C "$WORK/prev/uffd-shim" -xf -
    diag "previous release: $(sed -n '1p' "$WORK/prev/uffd-shim/debian/changelog") from commit $prev_commit"
elif [ "${UFFD_SHIM_REQUIRE_ALL:-0}" = 1 ] && [ -z "${UFFD_SHIM_DEB_NO_GIT:-}" ]; then
    not_ok "previous release: no git history in $SRC to build it from"; tap_end
else
    cp -a "$WORK/src/uffd-shim/." "$WORK/prev/uffd-shim/"
    sed -i "1s/($ver)/(${ver}~prev1)/" "$WORK/prev/uffd-shim/debian/changelog"
    rm -rf "$WORK/prev/uffd-shim/obj-"* "$WORK/prev/uffd-shim/debian/.debhelper"
    diag "previous release: no git history; this tree as ${ver}~prev1"
fi
check "the previous release builds" build_debs "$WORK/prev/uffd-shim" || tap_end
prev_ver=$VER
mapfile -t prev_debs < <(debs_of "$WORK/prev/uffd-shim" "$prev_ver")
check "the previous version $prev_ver is older than $ver" dpkg --compare-versions "$prev_ver" lt "$ver"

# chain_ok: libvirt's qemu hook chain for an incoming migration ("migrate
# begin", the domain XML on stdin; hooks/qemu, then qemu.d/* in strcmp
# order, each exit status checked) refuses nothing and changes nothing.
cat >"$WORK/dom.xml" <<X
<domain type='qemu'><name>debchain</name><uuid>6f1c2a9e-7777-4a7b-9c3d-0123456789ab</uuid>
<memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>
X
chain_ok() {
    local h out rc
    for h in /etc/libvirt/hooks/qemu /etc/libvirt/hooks/qemu.d/*; do
        [ -f "$h" ] && [ -x "$h" ] || continue
        out=$("$h" debchain migrate begin - <"$WORK/dom.xml" 2>"$WORK/chain.err")
        rc=$?
        [ $rc = 0 ] && [ -z "$out" ] || { diag "$h: exit $rc: $(cat "$WORK/chain.err") ${out:0:200}"; return 1; }
    done
}
no_hook_of_ours() { ! grep -qlF "$MARKER" /etc/libvirt/hooks/qemu.d/* 2>/dev/null; }
same_as_installed() { cmp -s "$HOOK" /usr/libexec/uffd-shim-hook; }
# ino PATH: device and inode.
ino() { stat -c %d:%i "$1" 2>/dev/null; }

# 3. Install the previous release, as its runbook said: the packages, the
# hook copy (by hand if that release did not manage it), the broker running.
[ -e /run/uffd-shim ] || on_exit "rm -rf /run/uffd-shim"
on_exit "dpkg --purge ${PKGS[*]} >>'$WORK/purge.log' 2>&1; rm -f '$HOOK'"
DEBIAN_FRONTEND=noninteractive dpkg -i "${prev_debs[@]}" >"$WORK/install-prev.log" 2>&1
check "the previous release ($prev_ver) installs" test $? = 0 || sed 's/^/# /' "$WORK/install-prev.log"
[ -f "$HOOK" ] || /usr/sbin/uffd-shimctl hook install >/dev/null 2>&1
check "the previous release's hook is in qemu.d" grep -qF "$MARKER" "$HOOK"
cp "$HOOK" "$WORK/prev-hook"
mkdir -p /run/uffd-shim && chmod 0755 /run/uffd-shim
/usr/sbin/uffd-shimd >"$WORK/broker-up.log" 2>&1 &
BPID=$!
on_exit "stop_pid $BPID"
for ((i = 0; i < 100; i++)); do /usr/sbin/uffd-shimctl status >/dev/null 2>&1 && break; sleep 0.05; done
UP_UUID=6f1c2a9e-8888-4a7b-9c3d-0123456789ab
check "a grant is open before the upgrade" bash -c '/usr/sbin/uffd-shimctl grant debup "$1" --lifetime 900 >/dev/null' _ $UP_UUID
sock_before="$(ino /run/uffd-shim/uffd.sock) $(ino /run/uffd-shim/admin.sock)"

# 4. Upgrade to this tree's packages with the grant in flight.
DEBIAN_FRONTEND=noninteractive dpkg -i "${debs[@]}" >"$WORK/install.log" 2>&1
check "dpkg -i upgrades $prev_ver to $ver" test $? = 0 || sed 's/^/# /' "$WORK/install.log"
check "upgrade: the hook copy is the new version's (refreshed, not stale)" same_as_installed
check "upgrade: the copy changed from the previous release's" bash -c '! cmp -s "$1" "$2"' _ "$WORK/prev-hook" "$HOOK"
check "upgrade: the broker was not restarted (same pid)" kill -0 $BPID
check "upgrade: the sockets were not recreated" test "$(ino /run/uffd-shim/uffd.sock) $(ino /run/uffd-shim/admin.sock)" = "$sock_before"
check "upgrade: the grant opened before it is still active" \
    bash -c '/usr/sbin/uffd-shimctl grants | grep -qE "^debup +$1 .* active "' _ $UP_UUID
check "upgrade: the broker's state file still has it" grep -q "debup" /run/uffd-shim/grants.state
dpkg-deb -e "${debs[0]}" "$WORK/control"
# upgrade_safe DIR: postinst restarts nothing; every stop in prerm is for "remove" only.
upgrade_safe() {
    ! grep -E "^[[:space:]]*(deb-systemd-invoke|systemctl).*(restart|try-restart)" "$1/postinst" &&
        awk '/deb-systemd-invoke stop|systemctl.* stop/ && prev !~ /"\$1" = remove/ { bad = 1 } { prev = $0 } END { exit bad }' "$1/prerm"
}
check "the maintainer scripts never restart or stop the sockets or the broker on upgrade" upgrade_safe "$WORK/control"
grep -E "deb-systemd-invoke|systemctl" "$WORK/control/postinst" "$WORK/control/prerm" | sed 's/^/#   /'
out=$(/usr/sbin/uffd-shimctl doctor 2>&1)
check "upgrade: the doctor passes the hook (installed, not stale)" grep -Eq "libvirt qemu hook installed +: PASS" <<<"$out"
check "docs: README.Debian, the runbook and the design ship in /usr/share/doc/uffd-shim" \
    bash -c 'ls /usr/share/doc/uffd-shim/README.Debian* && ls /usr/share/doc/uffd-shim/runbook.md* && ls /usr/share/doc/uffd-shim/design.md* && ls /usr/share/doc/uffd-shim/protocol.md*' 
if [ -f /etc/apparmor.d/abstractions/libvirt-qemu ]; then
    check "AppArmor: the drop-in is installed where libvirt includes it" test -f /etc/apparmor.d/abstractions/libvirt-qemu.d/uffd-shim
    check "AppArmor: libvirt 9.0's local abstraction includes the drop-in directory" \
        bash -c 'grep -q "abstractions/libvirt-qemu.d" /etc/apparmor.d/abstractions/libvirt-qemu || grep -qx "include if exists <abstractions/libvirt-qemu.d>" "$1"' _ "$AA_LOCAL"
fi
check "SELinux: the compiled modules ship" ls /usr/share/selinux/packages/uffd-shim/uffd_shim.pp /usr/share/selinux/packages/uffd-shim/uffd_shim_preload.pp
/usr/sbin/uffd-shimctl revoke debup >/dev/null 2>&1
stop_pid $BPID

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

# 5. The installed files.
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

# 7. Remove, then purge: no copy of the hook is left to refuse migrations,
# and nothing else of the package.
cp /usr/libexec/uffd-shim-hook "$WORK/new-hook"
dpkg --remove uffd-shim >"$WORK/remove.log" 2>&1
check "dpkg --remove uffd-shim" test $? = 0 || sed 's/^/# /' "$WORK/remove.log"
check "remove: the hook is gone from qemu.d" test ! -e "$HOOK"
check "remove: libvirt's hook chain refuses nothing" chain_ok
dpkg --purge "${PKGS[@]}" >"$WORK/purge.log" 2>&1
check "dpkg --purge removes the packages" test $? = 0
check "purge: no uffd-shim hook in qemu.d" no_hook_of_ours
check "purge: an incoming migration's hook chain behaves as stock (nothing refuses or edits)" chain_ok
check "nothing of uffd-shim is left in /usr, /lib, /etc, /run" \
    bash -c '! ls /usr/sbin/uffd-shimd /usr/libexec/uffd-shim-hook /usr/lib/*/uffd-shim /lib/systemd/system/uffd-shimd.service /etc/uffd-shim /usr/share/doc/uffd-shim /usr/share/uffd-shim /usr/share/selinux/packages/uffd-shim /etc/apparmor.d/abstractions/libvirt-qemu.d/uffd-shim /run/uffd-shim/grants.state 2>/dev/null | grep -q .'
check "purge: the AppArmor local abstraction is as before the install" test "$(cat "$AA_LOCAL" 2>/dev/null | sha256sum)" = "$aa_local_before"
# A stale copy of the hook (what a purge of a package that did not manage
# its hook left behind) no longer refuses anything: with the preload library
# gone it only warns. And the chain check has teeth: a hook that refuses is
# seen.
install -m 0755 "$WORK/new-hook" "$HOOK"
check "a stale copy of this release's hook refuses and edits nothing (no library: it only warns)" chain_ok
printf '#!/bin/sh\necho "refused" >&2\nexit 1\n' >"$HOOK"
chain_refuses() { ! chain_ok >/dev/null; }
check "(the chain check sees a hook that refuses)" chain_refuses
rm -f "$HOOK"
tap_end

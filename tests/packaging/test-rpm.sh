#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# RPM packaging: rpmbuild -bb on Debian's rpm tools, the packages' files against the Debian packages', the scriptlets.
#
# Builds rpm/uffd-shim.spec (rpmbuild --nodeps: Debian's rpm database knows
# none of the BuildRequires; the build tools are Debian's) and the Debian
# packages from the same tree, and compares what they install, file by
# file, after the distributions' own path conventions (/usr/lib64 for the
# multiarch directory, /usr/lib/systemd/system for /lib/systemd/system,
# versioned doc directory, compressed man pages). Then runs the %post
# scriptlet in a private mount namespace with libvirt's sysctl.d file in
# place to see its guidance. Nothing is installed. About 2 minutes.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_cmd rpmbuild rpm dpkg-buildpackage dpkg-deb unshare
SRC=${UFFD_SHIM_SRCDIR:-$(cd "$TESTS_DIR/.." && pwd)}
SPEC=$SRC/rpm/uffd-shim.spec
[ -f "$SPEC" ] || skip_all "no rpm/uffd-shim.spec in $SRC"
make_workdir
version=$(sed -n 's/^Version: *//p' "$SPEC")
deb_version=$(sed -n '1s/^uffd-shim (\([^)]*\)).*/\1/p' "$SRC/debian/changelog")
check "the spec's version ($version) is the Debian package's ($deb_version)" test "$version" = "$deb_version"

# 1. rpmbuild -bb from a source tarball of this tree.
mkdir -p "$WORK/rpm/SOURCES" "$WORK/t/uffd-shim-$version" "$WORK/deb/uffd-shim"
tar -C "$SRC" --exclude=./build --exclude='./build-*' --exclude=./.git --exclude=./obj-\* -cf - . |
    tar -C "$WORK/t/uffd-shim-$version" -xf -
tar -C "$WORK/t" -czf "$WORK/rpm/SOURCES/uffd-shim-$version.tar.gz" "uffd-shim-$version"
cp -a "$WORK/t/uffd-shim-$version/." "$WORK/deb/uffd-shim/"
t0=$(date +%s)
rpmbuild --define "_topdir $WORK/rpm" --nodeps -bb "$SPEC" >"$WORK/rpmbuild.log" 2>&1
rc=$?
diag "rpmbuild -bb: exit $rc in $(( $(date +%s) - t0 )) s"
check "rpmbuild -bb rpm/uffd-shim.spec succeeds" test $rc = 0 || { tail -n 30 "$WORK/rpmbuild.log" | sed 's/^/# /'; tap_end; }
arch=$(rpm --eval '%{_arch}')
R=$WORK/rpm/RPMS/$arch
check "three RPMs: uffd-shim, libuffd-shim, libuffd-shim-devel" \
    ls "$R/uffd-shim-$version-1.$arch.rpm" "$R/libuffd-shim-$version-1.$arch.rpm" "$R/libuffd-shim-devel-$version-1.$arch.rpm"

# 2. The Debian packages of the same tree.
(cd "$WORK/deb/uffd-shim" && dpkg-buildpackage -us -uc -b) >"$WORK/deb.log" 2>&1
check "dpkg-buildpackage builds the Debian packages" test $? = 0 || { tail -n 30 "$WORK/deb.log" | sed 's/^/# /'; tap_end; }
darch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
libdir=$(rpm --eval '%{_libdir}')

# Files (not directories) of a package, in the RPM's conventions.
rpm_files() {
    rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$1" | awk '$1 ~ /^[-l]/ { print $2 }' |
        grep -v -e '^/usr/lib/\.build-id/' -e '^/usr/share/licenses/' | sed 's/\.gz$//' | sort
}
deb_files() {
    dpkg-deb -c "$1" | awk '$1 ~ /^[-l]/ { print $6 }' | sed -e 's|^\./|/|' \
        -e "s|^/lib/systemd/system/|/usr/lib/systemd/system/|" \
        -e "s|^/usr/lib/$multiarch/|$libdir/|" \
        -e "s|^/usr/share/doc/uffd-shim/|/usr/share/doc/uffd-shim-$version/|" \
        -e 's/\.gz$//' | sort
}
# What only one side ships, on purpose: Debian's changelog and copyright
# in every package (the RPM's licence is in /usr/share/licenses),
# README.Debian, the AppArmor
# drop-in (RHEL-like hosts confine QEMU with SELinux; the rules are in
# /usr/share/uffd-shim/apparmor on both).
deb_only="/usr/share/doc/uffd-shim-$version/changelog
/usr/share/doc/uffd-shim-$version/copyright
/usr/share/doc/uffd-shim-$version/README.Debian
/etc/apparmor.d/abstractions/libvirt-qemu.d/uffd-shim"
# compare NAME RPM DEB: the file lists agree except for the Debian-only ones.
compare() {
    rpm_files "$2" >"$WORK/$1.rpm.list"
    deb_files "$3" | grep -vxF "$deb_only" | grep -vE '^/usr/share/doc/[^/]+/(changelog|copyright)$' >"$WORK/$1.deb.list"
    diag "$1: $(wc -l <"$WORK/$1.rpm.list") files in the RPM, $(wc -l <"$WORK/$1.deb.list") in the .deb (Debian-only ones set aside)"
    diff "$WORK/$1.deb.list" "$WORK/$1.rpm.list" >"$WORK/$1.diff" || { sed 's/^/#   /' "$WORK/$1.diff"; return 1; }
}
check "uffd-shim: the RPM installs the same files as the .deb" \
    compare uffd-shim "$R/uffd-shim-$version-1.$arch.rpm" "$WORK/deb/uffd-shim_${deb_version}_$darch.deb"
check "libuffd-shim: the same files as libuffd-shim0" \
    compare lib "$R/libuffd-shim-$version-1.$arch.rpm" "$WORK/deb/libuffd-shim0_${deb_version}_$darch.deb"
check "libuffd-shim-devel: the same files as libuffd-shim-dev" \
    compare dev "$R/libuffd-shim-devel-$version-1.$arch.rpm" "$WORK/deb/libuffd-shim-dev_${deb_version}_$darch.deb"
for f in /usr/sbin/uffd-shimd /usr/libexec/uffd-shim-hook /usr/lib/systemd/system/uffd-shimd.socket \
    /usr/lib/systemd/system/uffd-shimd-admin.socket /usr/lib/systemd/system/uffd-shimd.service \
    "$libdir/uffd-shim/libuffd-shim-preload.so" /usr/share/selinux/packages/uffd-shim/uffd_shim_preload.pp \
    /usr/share/doc/uffd-shim-$version/runbook.md; do
    check "the RPM ships $f" grep -qx "$f" "$WORK/uffd-shim.rpm.list"
done
check "the RPM's hook puts the RPM's preload path into QEMU's environment" \
    bash -c 'cd "$1" && rpm2cpio "$2" | cpio -idm --quiet ./usr/libexec/uffd-shim-hook && strings usr/libexec/uffd-shim-hook | grep -qx "$3"' \
    _ "$WORK" "$R/uffd-shim-$version-1.$arch.rpm" "$libdir/uffd-shim/libuffd-shim-preload.so"

# 3. The scriptlets.
rpm -qp --scripts "$R/uffd-shim-$version-1.$arch.rpm" >"$WORK/scripts.txt"
awk '/^postinstall scriptlet/ { p = 1; next } /^[a-z]+ scriptlet/ { p = 0 } p' "$WORK/scripts.txt" >"$WORK/post.sh"
check "%post installs and reloads the hook" grep -q "uffd-shimctl hook install --reload" "$WORK/post.sh"
check "%preun removes the hook on erase, %postun any copy left" \
    bash -c 'grep -q "uffd-shimctl hook uninstall" "$1" && grep -q "uffd-shim-hook-marker:" "$1"' _ "$WORK/scripts.txt"
check "no scriptlet restarts or stops the sockets or the broker on upgrade" \
    bash -c '! grep -E "^[[:space:]]*systemctl .*(restart|try-restart)" "$1"' _ "$WORK/scripts.txt"
# %post with libvirt's sysctl.d file (as libvirt's RPM installs it): the
# guidance names the file and the mask; with the mask in place, silence.
mkdir -p "$WORK/bin"
printf '#!/bin/sh\nexit 0\n' >"$WORK/bin/uffd-shimctl"
chmod 0755 "$WORK/bin/uffd-shimctl"
cat >"$WORK/post-ns.sh" <<'S'
set -u
W=$1 masked=$2
mount -t tmpfs tmpfs /usr/lib/sysctl.d
mount -t tmpfs tmpfs /etc/sysctl.d
printf '# libvirt\nvm.unprivileged_userfaultfd = 1\n' >/usr/lib/sysctl.d/60-qemu-postcopy-migration.conf
[ "$masked" = 1 ] && ln -s /dev/null /etc/sysctl.d/60-qemu-postcopy-migration.conf
PATH=$W/bin:$PATH sh "$W/post.sh" 1
S
unshare -m --propagation private -- bash "$WORK/post-ns.sh" "$WORK" 0 >"$WORK/post.out" 2>&1
diag "$(cat "$WORK/post.out")"
check "%post: libvirt's 60-qemu-postcopy-migration.conf is named, with the mask command" \
    bash -c 'grep -q "/usr/lib/sysctl.d/60-qemu-postcopy-migration.conf sets vm.unprivileged_userfaultfd = 1" "$1" &&
        grep -q "ln -s /dev/null /etc/sysctl.d/60-qemu-postcopy-migration.conf" "$1" && grep -q "sysctl -w vm.unprivileged_userfaultfd=0" "$1"' _ "$WORK/post.out"
unshare -m --propagation private -- bash "$WORK/post-ns.sh" "$WORK" 1 >"$WORK/post-masked.out" 2>&1
check "%post: once masked by /etc/sysctl.d, no guidance" bash -c '! grep -q "60-qemu-postcopy" "$1"' _ "$WORK/post-masked.out"
tap_end

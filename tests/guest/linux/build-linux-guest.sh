#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds (once, cached) the Linux test guest: Debian's cloud kernel, an initramfs with busybox and guest-load, a disk image.
#
# usage: tests/guest/linux/build-linux-guest.sh
# Last line of stdout: a directory holding
#   vmlinuz      the kernel of Debian's linux-image-cloud-amd64 (candidate version)
#   initrd.img   gzip'd newc initramfs: busybox-static, the virtio-pci and
#                virtio-blk modules of that kernel, init.sh as /init and
#                guest-load (gcc -static) as /sbin/guest-load
#   disk.img     16 MiB raw image in guest-load's disk format (attach it as a
#                virtio disk, read-only is enough)
#   cmdline      the default kernel command line (console on ttyS0)
#   manifest     package versions and the cache key
# Boot: <os><kernel>vmlinuz</kernel><initrd>initrd.img</initrd><cmdline>...</cmdline>
# in a libvirt domain, or `qemu-system-x86_64 -kernel vmlinuz -initrd initrd.img
# -append "$(cat cmdline)" -drive file=disk.img,if=virtio,format=raw,readonly=on
# -serial file:LOG`. What the guest prints is described in guest-load.c.
#
# The packages are fetched with `apt-get download` and unpacked with
# `dpkg-deb -x` into a scratch directory: nothing is installed on the
# machine. Cached as CACHE/linux-guest-KEY, KEY covering this script,
# init.sh, guest-load.c, the package versions and the compiler; a
# directory is complete only with its manifest. Roots of other keys are
# left alone (another checkout may use one); remove stale ones with
# rm -rf CACHE/linux-guest-*. About 35 MB.
#
# Environment:
#   UFFD_LINUX_GUEST_CACHE   cache directory (default /var/cache/uffd-shim)
#   UFFD_LINUX_GUEST_KERNEL  kernel metapackage (default linux-image-cloud-amd64)
set -euo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROG=tests/guest/linux/build-linux-guest.sh
die() { echo "$PROG: error: $*" >&2; exit 1; }
say() { echo "$PROG: $*" >&2; }

CACHE=${UFFD_LINUX_GUEST_CACHE:-/var/cache/uffd-shim}
META=${UFFD_LINUX_GUEST_KERNEL:-linux-image-cloud-amd64}
MODULES=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk)
DISK_MIB=16
CMDLINE="console=ttyS0 quiet panic=0"

for c in apt-cache apt-get dpkg-deb gcc gzip sha256sum; do
    command -v "$c" >/dev/null || die "$c not found (scripts/deps.sh installs what is needed)"
done

candidate() { # PACKAGE -> its candidate version
    apt-cache policy "$1" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }'
}
KPKG=$(apt-cache depends "$META" 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
[ -n "$KPKG" ] || die "cannot resolve $META to a kernel image package (apt-get update?)"
KVER=$(candidate "$KPKG")
BVER=$(candidate busybox-static)
[ -n "$KVER" ] && [ "$KVER" != "(none)" ] || die "no candidate version of $KPKG"
[ -n "$BVER" ] && [ "$BVER" != "(none)" ] || die "no candidate version of busybox-static"
KEY=$( {
    cat "$HERE/build-linux-guest.sh" "$HERE/init.sh" "$HERE/guest-load.c"
    echo "$KPKG=$KVER busybox-static=$BVER"
    gcc --version | head -n 1
    dpkg-query -W -f='${Version}\n' libc6-dev 2>/dev/null
} | sha256sum | cut -c1-16)
OUT=$CACHE/linux-guest-$KEY

mkdir -p "$CACHE"
# One builder per cache at a time; the others wait and reuse the result.
exec 9>"$CACHE/.linux-guest.lock"
flock 9
if [ -f "$OUT/manifest" ]; then
    say "reusing $OUT"
    echo "$OUT"
    exit 0
fi

T0=$(date +%s)
TMP=$(mktemp -d "$CACHE/.linux-guest-$KEY.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
chmod 0755 "$TMP"
mkdir "$TMP/deb" "$TMP/x" "$TMP/root"
say "downloading $KPKG=$KVER busybox-static=$BVER"
(cd "$TMP/deb" && apt-get -q -o APT::Sandbox::User=root download "$KPKG=$KVER" "busybox-static=$BVER" \
    >"$TMP/download.log" 2>&1) || { cat "$TMP/download.log" >&2; die "apt-get download failed"; }
dpkg-deb -x "$TMP"/deb/linux-image-*.deb "$TMP/x"
dpkg-deb -x "$TMP"/deb/busybox-static_*.deb "$TMP/x"
KREL=$(basename "$(find "$TMP/x/lib/modules" -mindepth 1 -maxdepth 1 -type d | head -n 1)")
[ -n "$KREL" ] && [ -f "$TMP/x/boot/vmlinuz-$KREL" ] || die "no kernel in $KPKG"
BB=$TMP/x/bin/busybox
[ -x "$BB" ] || die "no busybox in busybox-static"

R=$TMP/root
mkdir -p "$R/bin" "$R/sbin" "$R/lib/modules" "$R/dev" "$R/proc" "$R/sys" "$R/data"
cp "$BB" "$R/bin/busybox"
ln -s busybox "$R/bin/sh"
install -m 0755 "$HERE/init.sh" "$R/init"
for m in "${MODULES[@]}"; do
    f=$(find "$TMP/x/lib/modules/$KREL" -name "$m.ko" | head -n 1)
    [ -n "$f" ] || die "module $m not found in $KPKG"
    cp "$f" "$R/lib/modules/$m.ko"
done
gcc -static -O2 -std=gnu11 -Wall -Wextra -Werror -o "$R/sbin/guest-load" "$HERE/guest-load.c" ||
    die "building guest-load failed (gcc -static needs libc6-dev)"
# /dev/console must exist before devtmpfs is mounted for the kernel to
# give init a console; busybox cpio takes the node from the list.
mknod -m 0600 "$R/dev/console" c 5 1
(cd "$R" && find . -mindepth 1 | sort | "$BB" cpio -o -H newc 2>/dev/null) | gzip -n -9 >"$TMP/out.initrd"

mkdir "$TMP/out"
mv "$TMP/out.initrd" "$TMP/out/initrd.img"
cp "$TMP/x/boot/vmlinuz-$KREL" "$TMP/out/vmlinuz"
"$R/sbin/guest-load" --make-disk "$TMP/out/disk.img" "$DISK_MIB" || die "writing disk.img failed"
echo "$CMDLINE" >"$TMP/out/cmdline"
{
    echo "key=$KEY"
    echo "kernel=$KPKG $KVER ($KREL)"
    echo "busybox-static=$BVER"
    echo "compiler=$(gcc --version | head -n 1)"
    echo "disk-mib=$DISK_MIB"
} >"$TMP/out/manifest"
chmod 0755 "$TMP/out"
chmod 0644 "$TMP"/out/*
rm -rf "$OUT"
mv "$TMP/out" "$OUT"
say "built $OUT in $(( $(date +%s) - T0 )) s"
echo "$OUT"

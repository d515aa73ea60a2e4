#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds (once, cached) a Debian 12 root with libvirt 11.x and QEMU 10.x from bookworm-backports; prints its path.
#
# usage: tests/newer-stack/setup-root.sh
#
# The root is `debootstrap --variant=minbase bookworm` plus, from
# bookworm-backports, libvirt-daemon-system, libvirt-clients and
# qemu-system-x86 and the tools the end-to-end libraries use. It has the
# host's glibc and library ABI, so uffd-shim's and the patched QEMU's
# host-built binaries run inside it. Nothing of the host's own libvirt or
# QEMU is touched: package installation happens in the root only, with
# /proc, /sys and /dev mounted in a private mount namespace that ends with
# this script, and daemons are kept from starting (policy-rc.d).
#
# Cached as CACHE/newer-root-KEY, KEY covering this script's commands
# (hence the package list) and the mirror, not its comments nor where it
# lives: neither a comment nor a move rebuilds the root. A root is
# complete only with its .uffd-shim-root file (package versions), so an
# interrupted build is rebuilt. Roots of other keys are left alone
# (another checkout may use one); remove stale ones with
# rm -rf CACHE/newer-root-*. About 500 MB.
# Last line of stdout: the root's path.
#
# Environment:
#   UFFD_NEWER_CACHE    cache directory (default /var/cache/uffd-shim)
#   UFFD_NEWER_MIRROR   Debian mirror (default http://deb.debian.org/debian)
#   UFFD_NEWER_SECURITY security mirror (default http://deb.debian.org/debian-security)
set -euo pipefail
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
PROG=${SELF#"$(cd "$(dirname "$SELF")/../.." && pwd)/"}   # relative to the source tree
die() { echo "$PROG: error: $*" >&2; exit 1; }
say() { echo "$PROG: $*" >&2; }

CACHE=${UFFD_NEWER_CACHE:-/var/cache/uffd-shim}
MIRROR=${UFFD_NEWER_MIRROR:-http://deb.debian.org/debian}
SECURITY=${UFFD_NEWER_SECURITY:-http://deb.debian.org/debian-security}
# From bookworm-backports (libvirt 11.x, QEMU 10.x) ...
NEWER_PKGS=(libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86
            qemu-system-data)
# ... and from bookworm: what tests/e2e/lib and the tests run, the run-time
# libraries of uffd-shim's binaries and of the patched QEMU.
BASE_PKGS=(python3 util-linux procps iproute2 findutils mawk
           libglib2.0-0 libjson-glib-1.0-0 libxml2 libcap-ng0 libseccomp2
           libfdt1 libpixman-1-0 zlib1g seabios ipxe-qemu)

[ "$(id -u)" = 0 ] || die "run as root"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
KEY=$( { grep -v '^[[:space:]]*#' "$SELF"; echo "$MIRROR $SECURITY"; } | sha256sum | cut -c1-16)
ROOT=$CACHE/newer-root-$KEY
if [ -f "$ROOT/.uffd-shim-root" ]; then
    say "reusing $ROOT"
    echo "$ROOT"
    exit 0
fi

T0=$(date +%s)
mkdir -p "$CACHE"
TMP=$(mktemp -d "$CACHE/.newer-root-$KEY.XXXXXX")
trap 'rm -rf --one-file-system "$TMP"' EXIT
chmod 0755 "$TMP"
say "debootstrap bookworm (minbase) into $TMP"
debootstrap --variant=minbase bookworm "$TMP" "$MIRROR" >"$TMP.log" 2>&1 ||
    { tail -n 30 "$TMP.log" >&2; rm -f "$TMP.log"; die "debootstrap failed"; }
rm -f "$TMP.log"
T_BOOT=$(( $(date +%s) - T0 ))

cat >"$TMP/etc/apt/sources.list" <<SRC
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $SECURITY bookworm-security main
deb $MIRROR bookworm-backports main
SRC
# No service starts in the root while packages are installed.
printf '#!/bin/sh\nexit 101\n' >"$TMP/usr/sbin/policy-rc.d"
chmod 0755 "$TMP/usr/sbin/policy-rc.d"

say "installing libvirt and QEMU from bookworm-backports"
# A private mount namespace: /proc, /sys, /dev of the root vanish with it.
# shellcheck disable=SC2016  # expanded by the inner bash
unshare -m --propagation private -- bash -euc '
    r=$1; shift
    mount -t proc proc "$r/proc"
    mount --rbind /sys "$r/sys"
    mount --rbind /dev "$r/dev"
    sep=$(printf "%s\n" "$@" | grep -n -x -- "--" | cut -d: -f1)
    newer=("${@:1:sep-1}") base=("${@:sep+1}")
    chroot "$r" apt-get -q update
    chroot "$r" apt-get -q install -y --no-install-recommends "${base[@]}"
    chroot "$r" apt-get -q install -y --no-install-recommends -t bookworm-backports "${newer[@]}"
    chroot "$r" apt-get clean
' setup "$TMP" "${NEWER_PKGS[@]}" -- "${BASE_PKGS[@]}" >"$TMP/.install.log" 2>&1 ||
    { tail -n 40 "$TMP/.install.log" >&2; die "package installation failed"; }
rm -f "$TMP/.install.log"
for b in usr/sbin/libvirtd usr/sbin/virtlogd usr/bin/virsh usr/bin/qemu-system-x86_64 usr/bin/python3; do
    [ -x "$TMP/$b" ] || die "the root has no /$b"
done
{
    echo "key: $KEY"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(( $(date +%s) - T0 ))s (debootstrap ${T_BOOT}s)"
    # shellcheck disable=SC2016  # dpkg-query fields
    chroot "$TMP" dpkg-query -W -f '${Package} ${Version}\n' \
        libvirt-daemon libvirt-daemon-system libvirt-clients qemu-system-x86 libc6
} >"$TMP/.uffd-shim-root"
rm -rf "$ROOT"
mv "$TMP" "$ROOT"
trap - EXIT
say "built $ROOT in $(( $(date +%s) - T0 ))s"
cat "$ROOT/.uffd-shim-root" >&2
echo "$ROOT"

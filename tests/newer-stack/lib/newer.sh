# SPDX-License-Identifier: GPL-2.0-or-later
# newer.sh - bash library: run commands against the newer libvirt/QEMU root (tests/newer-stack/setup-root.sh) in a private mount namespace.
# shellcheck shell=bash
#
#   newer_root_ok ROOT        ROOT is a complete root made by setup-root.sh
#   newer_enter ROOT CMD...   run CMD in a new private mount namespace in which
#                             ROOT's /usr and /etc (and its /var/{lib,log,cache}/libvirt)
#                             are bind-mounted over the machine's
#
# Why bind mounts and not chroot: libvirt, the e2e hosts (tests/e2e/lib/hosts.sh)
# and nsenter enter mount namespaces, and entering one resets the root
# directory to the namespace's own; a chroot would be left behind there, bind
# mounts are not. The machine's /usr is merged (/bin, /lib, /sbin are
# symlinks into it), so ROOT's /usr brings its binaries and libraries, ROOT's
# /etc its passwd, ld.so.cache and /etc/libvirt. Everything else (/proc, /sys,
# /dev, /run, /tmp, /var/tmp, the source and build trees) stays the
# machine's, at the same paths. The mounts exist only in that namespace and
# end with its last process; nothing outside sees them.

newer_root_ok() {
    [ -f "$1/.uffd-shim-root" ] && [ -x "$1/usr/sbin/libvirtd" ] && [ -x "$1/usr/bin/qemu-system-x86_64" ]
}

# shellcheck disable=SC2016
_NEWER_MOUNT_SCRIPT='
set -e
r=$1; shift
[ -L /bin ] && [ -L /lib ] || { echo "newer_enter: the machine has no merged /usr" >&2; exit 1; }
mount -n --bind "$r/usr" /usr
mount -n --bind "$r/etc" /etc
for d in lib log cache; do
    [ -d "/var/$d/libvirt" ] || continue
    mount -n --bind "$r/var/$d/libvirt" "/var/$d/libvirt"
done
exec "$@"
'

newer_enter() {
    local root=$1
    shift
    newer_root_ok "$root" || { echo "newer_enter: $root is not a root made by setup-root.sh" >&2; return 1; }
    unshare -m --propagation private -- bash -c "$_NEWER_MOUNT_SCRIPT" newer-enter "$root" "$@"
}

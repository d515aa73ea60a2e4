#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds Debian's QEMU with a uffd-shim patch series (native broker support) and installs qemu-system-x86_64 into OUTDIR.
#
# usage: qemu-patches/build.sh [7.2|10.x] OUTDIR
#
#   7.2   Debian 12's qemu source package (suite bookworm, 1:7.2+dfsg-*)
#   10.x  the newest 10.0.x source package (suite trixie by default;
#         UFFD_QEMU_SUITE=bookworm-backports picks the backport)
#
# Steps: install the build dependencies with apt-get (only those missing),
# fetch the source with `apt-get source` through a private apt
# configuration in the work directory (the host's sources.list and apt
# lists are neither read for deb-src nor changed), apply the series with
# `git apply` (fails loudly if a patch does not apply), configure a small
# x86_64-softmmu build (TCG + KVM, seccomp, fdt, the devices and backends a
# libvirt-started pc guest uses), build qemu-system-x86_64 and install
# OUTDIR/bin/qemu-system-x86_64 plus OUTDIR/BUILD-INFO.
#
# The binary finds its firmware in the distribution's directories, as
# Debian's own QEMU does (seabios, ipxe-qemu, qemu-system-data): QEMU looks
# for them relative to its binary, and OUTDIR/share/qemu, share/seabios and
# lib/ipxe/qemu are symlinks to /usr/..., so it runs from OUTDIR without -L.
#
# Environment:
#   UFFD_QEMU_CACHE      cache directory (default /var/cache/uffd-shim); a
#                        build is kept in CACHE/qemu-SERIES-HASH, HASH
#                        covering the series, this script, lib.sh and the
#                        options below, and reused when present. Empty: no
#                        cache.
#   UFFD_QEMU_BROKER     broker socket compiled in (default
#                        /run/uffd-shim/uffd.sock)
#   UFFD_QEMU_SUITE      Debian suite of the source package
#   UFFD_QEMU_WORKDIR    work directory (default: a new one under /var/tmp,
#                        removed after a success unless UFFD_QEMU_KEEP=1)
#   UFFD_QEMU_SOURCE     build this already patched source tree instead of
#                        fetching (development; never cached)
#   UFFD_QEMU_JOBS       ninja -j (default: number of CPUs)
#   UFFD_QEMU_NO_DEPS=1  do not install build dependencies
# Builds run under `nice -n 10`.
set -euo pipefail

# The distribution's python3 and meson, not a pyenv or virtualenv shim.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
PROG=qemu-patches/build.sh
MARKER=uffd-shim-native-broker-v1
. "$HERE/lib.sh"

usage() { sed -n '4,12p' "$SELF" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -eq 2 ] || usage
SERIES=$1
OUTDIR=$2
qemu_series "$SERIES" || usage
PATCHDIR=$HERE/$SERIES
BROKER=${UFFD_QEMU_BROKER:-/run/uffd-shim/uffd.sock}
CACHE=${UFFD_QEMU_CACHE-/var/cache/uffd-shim}
JOBS=${UFFD_QEMU_JOBS:-$(nproc)}
[ "$(id -u)" = 0 ] || [ "${UFFD_QEMU_NO_DEPS:-0}" = 1 ] ||
    die "run as root (apt-get), or set UFFD_QEMU_NO_DEPS=1 with the dependencies installed"
case $BROKER in /*) ;; *) die "UFFD_QEMU_BROKER must be an absolute path" ;; esac
find_patches "$PATCHDIR"
[ ${#PATCHES[@]} -gt 0 ] || [ -n "${UFFD_QEMU_SOURCE:-}" ] || die "no patches in $PATCHDIR"

T0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - T0 ))s"; }

# --- cache -----------------------------------------------------------------
KEY=$( { cat ${PATCHES[@]+"${PATCHES[@]}"} "$SELF" "$HERE/lib.sh"; echo "$SERIES $SUITE $BROKER"; } | sha256sum | cut -c1-16)
CACHED=
if [ -n "$CACHE" ] && [ -z "${UFFD_QEMU_SOURCE:-}" ]; then
    CACHED=$CACHE/qemu-$SERIES-$KEY
fi

# QEMU relocates its data and firmware directories (configured under
# /usr) relative to its binary: OUTDIR/bin/qemu-system-x86_64 looks in
# OUTDIR/share/qemu, OUTDIR/share/seabios and OUTDIR/lib/ipxe/qemu. Those
# are symlinks to the distribution's directories (qemu-system-data, seabios,
# ipxe-qemu), so the binary runs from OUTDIR without -L.
FIRMWARE_DIRS=(share/qemu share/seabios lib/ipxe/qemu)
install_out() { # install_out FROMDIR
    local d
    mkdir -p "$OUTDIR/bin"
    install -m 0755 "$1/bin/qemu-system-x86_64" "$OUTDIR/bin/qemu-system-x86_64"
    install -m 0644 "$1/BUILD-INFO" "$OUTDIR/BUILD-INFO"
    for d in "${FIRMWARE_DIRS[@]}"; do
        mkdir -p "$(dirname "$OUTDIR/$d")"
        [ -L "$OUTDIR/$d" ] || [ ! -e "$OUTDIR/$d" ] ||
            die "$OUTDIR/$d exists and is not a symlink"
        ln -sfn "/usr/$d" "$OUTDIR/$d"
    done
}

if [ -n "$CACHED" ] && [ -f "$CACHED/BUILD-INFO" ] && [ -x "$CACHED/bin/qemu-system-x86_64" ]; then
    install_out "$CACHED"
    say "reused the cached build $CACHED"
    say "installed $OUTDIR/bin/qemu-system-x86_64"
    exit 0
fi

# --- build dependencies ----------------------------------------------------
DEPS=(gcc make pkg-config ninja-build python3 python3-venv dpkg-dev git ca-certificates
      libglib2.0-dev libfdt-dev libpixman-1-dev libseccomp-dev zlib1g-dev
      seabios ipxe-qemu qemu-system-data)
if [ "$SERIES" = 7.2 ]; then
    DEPS+=(meson)
fi
install_deps "${DEPS[@]}"

# --- work directory ----------------------------------------------------------
make_workdir qemu

if [ -n "${UFFD_QEMU_SOURCE:-}" ]; then
    SRC=$(cd "$UFFD_QEMU_SOURCE" && pwd)
    SRC_VERSION="local tree $SRC"
    if [ "$SERIES" = 10.x ]; then
        apt_private
    fi
else
    apt_private
    fetch_and_patch
fi
setup_meson
T_FETCH=$(elapsed)

# --- configure -----------------------------------------------------------------
# --without-default-features turns every optional feature off; turn on
# what a libvirt-started pc guest (TCG or KVM) with IDE/virtio disks, a tap
# or vhost NIC, a file serial, QMP and migration needs, and the seccomp
# sandbox libvirt asks for. Firmware comes from the distribution packages
# (seabios, ipxe-qemu, qemu-system-data), as in Debian's own build, which
# also means Debian's orig tarball, stripped of the pc-bios blobs, is fine:
# --disable-install-blobs, and Debian's patch skips the blobs pc-bios/
# would otherwise unpack.
CONF=(--target-list=x86_64-softmmu --without-default-features --disable-docs
      --disable-install-blobs --disable-werror
      --enable-tcg --enable-kvm --enable-seccomp --enable-fdt=system
      --enable-vhost-net --enable-vhost-kernel --enable-vhost-user
      --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu
      --prefix=/usr --sysconfdir=/etc --localstatedir=/var --libexecdir=/usr/lib/qemu
      --with-pkgversion="uffd-shim $SERIES"
      --uffd-broker="$BROKER")
if [ "$SERIES" = 10.x ]; then
    CONF+=(--enable-pixman --disable-download --python=/usr/bin/python3)
else
    CONF+=(--with-git-submodules=ignore)
fi
BUILD=$WORK/build
rm -rf "$BUILD"
mkdir -p "$BUILD"
say "configuring in $BUILD"
( cd "$BUILD" && nice -n 10 "$SRC/configure" "${CONF[@]}" ) > "$WORK/configure.log" 2>&1 ||
    { tail -n 40 "$WORK/configure.log" >&2; die "configure failed (log: $WORK/configure.log)"; }
T_CONF=$(elapsed)

# --- build -------------------------------------------------------------------
say "building qemu-system-x86_64 with $JOBS jobs (nice 10)"
( cd "$BUILD" && nice -n 10 ninja -j "$JOBS" qemu-system-x86_64 ) > "$WORK/build.log" 2>&1 ||
    { grep -E 'error|FAILED' "$WORK/build.log" | head -n 30 >&2; die "build failed (log: $WORK/build.log)"; }
T_BUILD=$(elapsed)
BIN=$BUILD/qemu-system-x86_64
"$BIN" --version >/dev/null || die "the new binary does not run"
grep -qaF "$MARKER" "$BIN" || die "the new binary lacks the marker $MARKER"

# --- install -----------------------------------------------------------------
STAGE=$WORK/stage
rm -rf "$STAGE"
mkdir -p "$STAGE/bin"
install -m 0755 "$BIN" "$STAGE/bin/qemu-system-x86_64"
{
    echo "series: $SERIES"
    echo "source: qemu $SRC_VERSION ($SUITE)"
    echo "patches: $(for p in ${PATCHES[@]+"${PATCHES[@]}"}; do basename "$p"; done | tr '\n' ' ')"
    echo "broker: $BROKER"
    echo "key: $KEY"
    echo "version: $("$BIN" --version | head -n 1)"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) CPUs, jobs $JOBS"
    echo "time: fetch+patch $T_FETCH, configure done at $T_CONF, build done at $T_BUILD"
} > "$STAGE/BUILD-INFO"
install_out "$STAGE"
[ -z "$CACHED" ] || cache_store "$STAGE" "$CACHED" "qemu-$SERIES"
DONE=1
say "installed $OUTDIR/bin/qemu-system-x86_64 (total $(elapsed): fetch+patch $T_FETCH," \
    "configure at $T_CONF, build at $T_BUILD)"

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds Debian's qemu-storage-daemon with the libvhost-user postcopy fixes and installs it into OUTDIR.
#
# usage: qemu-patches/build-qsd.sh [7.2|10.x] OUTDIR
#
#   7.2   Debian 12's qemu source package (suite bookworm, 1:7.2+dfsg-*)
#   10.x  the newest 10.0.x source package (suite trixie by default;
#         UFFD_QEMU_SUITE=bookworm-backports picks the backport)
#
# The stock qemu-storage-daemon of both cannot serve a vhost-user-blk
# device through a postcopy migration (qemu-patches/libvhost-user/README.md):
# this builds one with the series qemu-patches/libvhost-user/SERIES applied.
# Steps as in qemu-patches/build.sh (those they share are in
# qemu-patches/lib.sh): build dependencies with apt-get (only those
# missing), the source with `apt-get source` through a private apt
# configuration in the work directory, `git apply` of the series, a small
# configure (tools only: no system emulator, no optional features but the
# vhost-user-blk export), `ninja storage-daemon/qemu-storage-daemon`, and
# OUTDIR/bin/qemu-storage-daemon plus OUTDIR/BUILD-INFO.
#
# Environment: UFFD_QEMU_CACHE (default /var/cache/uffd-shim; the build is
# kept in CACHE/qsd-SERIES-HASH, HASH covering the series, this script and
# qemu-patches/lib.sh), UFFD_QEMU_SUITE, UFFD_QEMU_WORKDIR,
# UFFD_QEMU_KEEP=1, UFFD_QEMU_JOBS, UFFD_QEMU_NO_DEPS=1, as for
# qemu-patches/build.sh. Builds run under `nice -n 10`: about 570 ninja
# steps, 2 to 4 minutes on 2 CPUs.
set -euo pipefail

export PATH=/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
PROG=qemu-patches/build-qsd.sh
. "$HERE/lib.sh"

usage() { sed -n '4,9p' "$SELF" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -eq 2 ] || usage
SERIES=$1
OUTDIR=$2
qemu_series "$SERIES" || usage
PATCHDIR=$HERE/libvhost-user/$SERIES
CACHE=${UFFD_QEMU_CACHE-/var/cache/uffd-shim}
JOBS=${UFFD_QEMU_JOBS:-$(nproc)}
[ "$(id -u)" = 0 ] || [ "${UFFD_QEMU_NO_DEPS:-0}" = 1 ] ||
    die "run as root (apt-get), or set UFFD_QEMU_NO_DEPS=1 with the dependencies installed"
find_patches "$PATCHDIR"
[ ${#PATCHES[@]} -gt 0 ] || die "no patches in $PATCHDIR"

T0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - T0 ))s"; }

KEY=$( { cat "${PATCHES[@]}" "$SELF" "$HERE/lib.sh"; echo "$SERIES $SUITE"; } | sha256sum | cut -c1-16)
CACHED=
[ -z "$CACHE" ] || CACHED=$CACHE/qsd-$SERIES-$KEY

install_out() { # install_out FROMDIR
    mkdir -p "$OUTDIR/bin"
    install -m 0755 "$1/bin/qemu-storage-daemon" "$OUTDIR/bin/qemu-storage-daemon"
    install -m 0644 "$1/BUILD-INFO" "$OUTDIR/BUILD-INFO"
}

if [ -n "$CACHED" ] && [ -f "$CACHED/BUILD-INFO" ] && [ -x "$CACHED/bin/qemu-storage-daemon" ]; then
    install_out "$CACHED"
    say "reused the cached build $CACHED"
    say "installed $OUTDIR/bin/qemu-storage-daemon"
    exit 0
fi

DEPS=(gcc make pkg-config ninja-build python3 python3-venv dpkg-dev git ca-certificates
      libglib2.0-dev zlib1g-dev)
if [ "$SERIES" = 7.2 ]; then
    DEPS+=(meson)
fi
install_deps "${DEPS[@]}"

make_workdir qsd
apt_private
setup_meson
fetch_and_patch
T_FETCH=$(elapsed)

CONF=(--target-list= --without-default-features --disable-docs --disable-install-blobs
      --disable-werror --disable-system --disable-user --enable-tools
      --enable-vhost-user --enable-vhost-user-blk-server
      --prefix=/usr --sysconfdir=/etc --localstatedir=/var --libexecdir=/usr/lib/qemu
      --with-pkgversion="uffd-shim libvhost-user $SERIES")
if [ "$SERIES" = 10.x ]; then
    CONF+=(--disable-download --python=/usr/bin/python3)
else
    CONF+=(--with-git-submodules=ignore)
fi
BUILD=$WORK/build
rm -rf "$BUILD"
mkdir -p "$BUILD"
say "configuring in $BUILD"
( cd "$BUILD" && nice -n 10 "$SRC/configure" "${CONF[@]}" ) > "$WORK/configure.log" 2>&1 ||
    { tail -n 40 "$WORK/configure.log" >&2; die "configure failed (log: $WORK/configure.log)"; }
say "building qemu-storage-daemon with $JOBS jobs (nice 10)"
( cd "$BUILD" && nice -n 10 ninja -j "$JOBS" storage-daemon/qemu-storage-daemon ) > "$WORK/build.log" 2>&1 ||
    { grep -E 'error|FAILED' "$WORK/build.log" | head -n 30 >&2; die "build failed (log: $WORK/build.log)"; }
T_BUILD=$(elapsed)
BIN=$BUILD/storage-daemon/qemu-storage-daemon
"$BIN" --version >/dev/null || die "the new binary does not run"

STAGE=$WORK/stage
rm -rf "$STAGE"
mkdir -p "$STAGE/bin"
install -m 0755 "$BIN" "$STAGE/bin/qemu-storage-daemon"
{
    echo "series: libvhost-user $SERIES"
    echo "source: qemu $SRC_VERSION ($SUITE)"
    echo "patches: $(for p in "${PATCHES[@]}"; do basename "$p"; done | tr '\n' ' ')"
    echo "key: $KEY"
    echo "version: $("$BIN" --version | head -n 1)"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) CPUs, jobs $JOBS"
    echo "time: fetch+patch $T_FETCH, build done at $T_BUILD"
} > "$STAGE/BUILD-INFO"
install_out "$STAGE"
[ -z "$CACHED" ] || cache_store "$STAGE" "$CACHED" "qsd-$SERIES"
DONE=1
say "installed $OUTDIR/bin/qemu-storage-daemon (total $(elapsed): fetch+patch $T_FETCH, build at $T_BUILD)"

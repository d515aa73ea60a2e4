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
# Steps as in qemu-patches/build.sh: build dependencies with apt-get (only
# those missing), the source with `apt-get source` through a private apt
# configuration in the work directory, `git apply` of the series, a small
# configure (tools only: no system emulator, no optional features but the
# vhost-user-blk export), `ninja storage-daemon/qemu-storage-daemon`, and
# OUTDIR/bin/qemu-storage-daemon plus OUTDIR/BUILD-INFO.
#
# Environment: UFFD_QEMU_CACHE (default /var/cache/uffd-shim; the build is
# kept in CACHE/qsd-SERIES-HASH, HASH covering the series and this script),
# UFFD_QEMU_SUITE, UFFD_QEMU_WORKDIR, UFFD_QEMU_KEEP=1, UFFD_QEMU_JOBS,
# UFFD_QEMU_NO_DEPS=1, as for qemu-patches/build.sh. Builds run under
# `nice -n 10`: about 570 ninja steps, 2 to 4 minutes on 2 CPUs.
set -euo pipefail

export PATH=/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
PROG=qemu-patches/build-qsd.sh

die() { echo "$PROG: error: $*" >&2; exit 1; }
say() { echo "$PROG: $*" >&2; }
usage() { sed -n '4,9p' "$SELF" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[ $# -eq 2 ] || usage
SERIES=$1
OUTDIR=$2
case $SERIES in
7.2)
    SUITE=${UFFD_QEMU_SUITE:-bookworm}
    VERSION_RE='^1:7\.2\+dfsg-'
    ;;
10.x)
    SUITE=${UFFD_QEMU_SUITE:-trixie}
    VERSION_RE='^1:10\.0\.[0-9]+\+ds-'
    ;;
*) usage ;;
esac
PATCHDIR=$HERE/libvhost-user/$SERIES
CACHE=${UFFD_QEMU_CACHE-/var/cache/uffd-shim}
JOBS=${UFFD_QEMU_JOBS:-$(nproc)}
[ "$(id -u)" = 0 ] || [ "${UFFD_QEMU_NO_DEPS:-0}" = 1 ] ||
    die "run as root (apt-get), or set UFFD_QEMU_NO_DEPS=1 with the dependencies installed"
mapfile -t PATCHES < <(find "$PATCHDIR" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' \
                       ! -name '0000-*' | LC_ALL=C sort)
[ ${#PATCHES[@]} -gt 0 ] || die "no patches in $PATCHDIR"

T0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - T0 ))s"; }

KEY=$( { cat "${PATCHES[@]}" "$SELF"; echo "$SERIES $SUITE"; } | sha256sum | cut -c1-16)
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
if [ "${UFFD_QEMU_NO_DEPS:-0}" != 1 ]; then
    missing=()
    for p in "${DEPS[@]}"; do
        dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
            missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing build dependencies: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y \
            --no-install-recommends "${missing[@]}" >&2
    fi
fi

if [ -n "${UFFD_QEMU_WORKDIR:-}" ]; then
    WORK=$UFFD_QEMU_WORKDIR
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d /var/tmp/uffd-shim-qsd.XXXXXX)
    if [ "${UFFD_QEMU_KEEP:-0}" != 1 ]; then
        trap 'if [ "${DONE:-0}" = 1 ]; then rm -rf "$WORK"; else say "work directory kept: $WORK"; fi' EXIT
    fi
fi
WORK=$(cd "$WORK" && pwd)

# A private apt configuration: deb-src entries (and bookworm-backports for
# a recent meson) live only in $WORK/apt, never in /etc/apt.
APT_DIR=$WORK/apt
APT_OPTS=(-o "Dir::Etc::SourceList=$APT_DIR/sources.list" -o "Dir::Etc::SourceParts=$APT_DIR/parts"
          -o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache::pkgcache="
          -o "Dir::Cache::srcpkgcache=" -o "Dir::Cache::Archives=$APT_DIR/archives"
          -o "APT::Sandbox::User=root" -o "Acquire::Languages=none")
mkdir -p "$APT_DIR/parts" "$APT_DIR/lists/partial" "$APT_DIR/archives/partial"
mirror=${UFFD_QEMU_MIRROR:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
{
    echo "deb-src [signed-by=$keyring] $mirror $SUITE main"
    if [ "$SERIES" = 10.x ]; then
        echo "deb [signed-by=$keyring] $mirror bookworm-backports main"
    fi
} > "$APT_DIR/sources.list"
apt-get "${APT_OPTS[@]}" -q update >&2

# QEMU 10 needs meson >= 1.5; Debian 12 has 1.0.1: the backport's meson
# (architecture all, pure Python) is unpacked into the work directory.
if [ "$SERIES" = 10.x ] && ! dpkg --compare-versions "$(meson --version 2>/dev/null || echo 0)" ge 1.5.0; then
    ( cd "$APT_DIR/archives" && apt-get "${APT_OPTS[@]}" -q download meson/bookworm-backports >&2 )
    dpkg-deb -x "$APT_DIR"/archives/meson_*.deb "$WORK/meson"
    export PYTHONPATH=$WORK/meson/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}
    export PATH=$WORK/meson/usr/bin:$PATH
fi

ver=$(apt-cache "${APT_OPTS[@]}" showsrc qemu 2>/dev/null |
      sed -n 's/^Version: //p' | grep -E "$VERSION_RE" | sort -V | tail -n 1)
[ -n "$ver" ] || die "no qemu source package matching $VERSION_RE in $SUITE"
say "fetching qemu $ver from $SUITE"
mkdir -p "$WORK/src"
( cd "$WORK/src" && apt-get "${APT_OPTS[@]}" -q source "qemu=$ver" >&2 )
SRC=$(find "$WORK/src" -mindepth 1 -maxdepth 1 -type d -name 'qemu-*' | head -n 1)
[ -n "$SRC" ] || die "apt-get source left no qemu-* directory"
for p in "${PATCHES[@]}"; do
    say "applying $(basename "$p")"
    ( cd "$SRC" && git apply --verbose "$p" >&2 ) ||
        die "$(basename "$p") does not apply to qemu $ver: the series needs a refresh"
done
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
    echo "source: qemu $ver ($SUITE)"
    echo "patches: $(for p in "${PATCHES[@]}"; do basename "$p"; done | tr '\n' ' ')"
    echo "key: $KEY"
    echo "version: $("$BIN" --version | head -n 1)"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) CPUs, jobs $JOBS"
    echo "time: fetch+patch $T_FETCH, build done at $T_BUILD"
} > "$STAGE/BUILD-INFO"
install_out "$STAGE"
if [ -n "$CACHED" ]; then
    mkdir -p "$CACHE"
    tmp=$(mktemp -d "$CACHE/.qsd-$SERIES.XXXXXX")
    cp -a "$STAGE/." "$tmp/"
    rm -rf "$CACHED"
    mv "$tmp" "$CACHED" && say "cached the build in $CACHED"
fi
DONE=1
say "installed $OUTDIR/bin/qemu-storage-daemon (total $(elapsed): fetch+patch $T_FETCH, build at $T_BUILD)"

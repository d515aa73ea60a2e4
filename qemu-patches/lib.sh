# SPDX-License-Identifier: GPL-2.0-or-later
# lib.sh - bash library of qemu-patches/build.sh and build-qsd.sh: Debian's QEMU source, fetched and patched.
# shellcheck shell=bash
#
# The caller sets PROG (its name in messages) and, before the calls that
# need them, SERIES, WORK and PATCHES. Both build scripts hash this file
# into their cache key: a change here rebuilds what they cache.
#
# die MSG, say MSG     an error (exit 1) or a progress line, on stderr
# qemu_series SERIES   sets SUITE and VERSION_RE for 7.2 or 10.x; fails
#                      for any other series
# find_patches DIR     PATCHES: DIR's NNNN-*.patch but 0000-*, in order
# install_deps PKG...  apt-get installs those not installed, unless
#                      UFFD_QEMU_NO_DEPS=1
# make_workdir NAME    WORK: $UFFD_QEMU_WORKDIR, or a new
#                      /var/tmp/uffd-shim-NAME.XXXXXX removed on exit once
#                      DONE=1 (kept, and named, after a failure, or with
#                      UFFD_QEMU_KEEP=1)
# apt_private          a private apt configuration in $WORK/apt (APT_DIR,
#                      APT_OPTS): deb-src of $SUITE, and bookworm-backports
#                      for 10.x; /etc/apt is neither read for them nor
#                      changed
# setup_meson          for 10.x, a meson >= 1.5 (the backport's, unpacked
#                      into $WORK, if the host's is older)
# fetch_and_patch      `apt-get source` of the newest qemu matching
#                      $VERSION_RE into $WORK/src, then `git apply` of
#                      PATCHES; sets SRC and SRC_VERSION
# cache_store STAGE CACHED TMPNAME
#                      copies STAGE to CACHED, replacing it atomically

die() { echo "$PROG: error: $*" >&2; exit 1; }
say() { echo "$PROG: $*" >&2; }

qemu_series() {
    case $1 in
    7.2)
        SUITE=${UFFD_QEMU_SUITE:-bookworm}
        VERSION_RE='^1:7\.2\+dfsg-'
        ;;
    10.x)
        SUITE=${UFFD_QEMU_SUITE:-trixie}
        VERSION_RE='^1:10\.0\.[0-9]+\+ds-'
        ;;
    *) return 1 ;;
    esac
}

find_patches() {
    mapfile -t PATCHES < <(find "$1" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' \
                           ! -name '0000-*' | LC_ALL=C sort)
}

install_deps() {
    local p missing=()
    [ "${UFFD_QEMU_NO_DEPS:-0}" != 1 ] || return 0
    for p in "$@"; do
        dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
            missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing build dependencies: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y \
            --no-install-recommends "${missing[@]}" >&2
    fi
}

make_workdir() {
    if [ -n "${UFFD_QEMU_WORKDIR:-}" ]; then
        WORK=$UFFD_QEMU_WORKDIR
        mkdir -p "$WORK"
    else
        WORK=$(mktemp -d "/var/tmp/uffd-shim-$1.XXXXXX")
        # Removed after a success; kept (and named) after a failure, for its logs.
        if [ "${UFFD_QEMU_KEEP:-0}" != 1 ]; then
            trap 'if [ "${DONE:-0}" = 1 ]; then rm -rf "$WORK"; else say "work directory kept: $WORK"; fi' EXIT
        fi
    fi
    WORK=$(cd "$WORK" && pwd)
}

apt_private() {
    local mirror=${UFFD_QEMU_MIRROR:-http://deb.debian.org/debian}
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    APT_DIR=$WORK/apt
    APT_OPTS=(-o "Dir::Etc::SourceList=$APT_DIR/sources.list" -o "Dir::Etc::SourceParts=$APT_DIR/parts"
              -o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache::pkgcache="
              -o "Dir::Cache::srcpkgcache=" -o "Dir::Cache::Archives=$APT_DIR/archives"
              -o "APT::Sandbox::User=root" -o "Acquire::Languages=none")
    mkdir -p "$APT_DIR/parts" "$APT_DIR/lists/partial" "$APT_DIR/archives/partial"
    {
        echo "deb-src [signed-by=$keyring] $mirror $SUITE main"
        if [ "$SERIES" = 10.x ]; then
            echo "deb [signed-by=$keyring] $mirror bookworm-backports main"
        fi
    } > "$APT_DIR/sources.list"
    apt-get "${APT_OPTS[@]}" -q update >&2
}

# QEMU 10 needs meson >= 1.5; Debian 12 has 1.0.1. The backport's meson
# (architecture all, pure Python) is unpacked into the work directory
# instead of replacing the host's meson.
setup_meson() {
    local ver
    [ "$SERIES" = 10.x ] || return 0
    ver=$(meson --version 2>/dev/null || echo 0)
    if dpkg --compare-versions "$ver" ge 1.5.0; then
        return 0
    fi
    say "meson $ver is too old for QEMU 10: using bookworm-backports' meson from the work directory"
    ( cd "$APT_DIR/archives" && apt-get "${APT_OPTS[@]}" -q download meson/bookworm-backports >&2 )
    dpkg-deb -x "$APT_DIR"/archives/meson_*.deb "$WORK/meson"
    export PYTHONPATH=$WORK/meson/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}
    export PATH=$WORK/meson/usr/bin:$PATH
    ver=$(meson --version)
    dpkg --compare-versions "$ver" ge 1.5.0 || die "meson $ver from bookworm-backports is too old"
}

fetch_and_patch() {
    local ver dir p
    ver=$(apt-cache "${APT_OPTS[@]}" showsrc qemu 2>/dev/null |
          sed -n 's/^Version: //p' | grep -E "$VERSION_RE" | sort -V | tail -n 1)
    [ -n "$ver" ] || die "no qemu source package matching $VERSION_RE in $SUITE"
    say "fetching qemu $ver from $SUITE"
    mkdir -p "$WORK/src"
    ( cd "$WORK/src" && apt-get "${APT_OPTS[@]}" -q source "qemu=$ver" >&2 )
    dir=$(find "$WORK/src" -mindepth 1 -maxdepth 1 -type d -name 'qemu-*' | head -n 1)
    [ -n "$dir" ] || die "apt-get source left no qemu-* directory"
    SRC=$dir
    SRC_VERSION=$ver
    for p in "${PATCHES[@]}"; do
        say "applying $(basename "$p")"
        ( cd "$SRC" && git apply --verbose "$p" >&2 ) ||
            die "$(basename "$p") does not apply to qemu $ver: the series needs a refresh"
    done
}

cache_store() {
    local tmp cache
    cache=$(dirname "$2")
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/.$3.XXXXXX")
    cp -a "$1/." "$tmp/"
    rm -rf "$2"
    mv "$tmp" "$2" && say "cached the build in $2"
}

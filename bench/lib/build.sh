# SPDX-License-Identifier: GPL-2.0-or-later
# build.sh - bash library for the benchmarks: the build tree they use, its artifacts, knob checks.
# shellcheck shell=bash
#
# bench_build        configures and builds the project into $UFFD_BENCH_BUILD
#                    (default: build-bench in the source tree) if needed, with
#                    an install prefix inside it, and exports UFFD_BENCH_BUILD
#                    and the artifact variables the test helpers use
#                    (UFFD_SHIMD, UFFD_SHIMCTL, UFFD_SHIM_HOOK,
#                    UFFD_SHIM_PRELOAD, UFFD_SHIM_LIB, UFFD_PROBE).
# bench_log MSG...   a progress line on stderr (stdout is for the report).
# bench_knob_zero    fails (message on stderr) unless the knob reads 0.
# bench_program_broker      a bench program and a private broker for it (below)
# knob_now, with_knob_zero   see below (need bench/lib/knob.sh).

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_REPO=$(cd "$BENCH_DIR/.." && pwd)

bench_log() { printf '%s: [%s] %s\n' "${BENCH_PART:-bench}" "$(date -u +%H:%M:%S)" "$*" >&2; }

# With bench/lib/knob.sh sourced it reads the knob under a shared lock (a
# knob window of another run is waited for, not mistaken for the knob's
# setting), so never call it inside with_knob_one.
bench_knob_zero() {
    local v
    if [ -n "${UFFD_KNOB_LOCK:-}" ]; then v=$(knob_now); else
        v=$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null); fi
    [ -n "$v" ] || {
        bench_log "cannot read vm.unprivileged_userfaultfd"
        return 1
    }
    [ "$v" = 0 ] && return 0
    bench_log "vm.unprivileged_userfaultfd is $v: the benchmarks compare against the knob" \
        "at 1 and need it at 0 to start (set it to 0 first)"
    return 1
}

bench_build() {
    local b=${UFFD_BENCH_BUILD:-$BENCH_REPO/build-bench}
    case $b in /*) ;; *) b=$PWD/$b ;; esac
    if [ ! -f "$b/build.ninja" ]; then
        bench_log "configuring $b"
        meson setup "$b" "$BENCH_REPO" --buildtype=debugoptimized --prefix="$b/prefix" \
            --libdir=lib >"$b.setup.log" 2>&1 || { cat "$b.setup.log" >&2; return 1; }
        rm -f "$b.setup.log"
    fi
    ninja -C "$b" >"$b/bench-ninja.log" 2>&1 || { tail -n 30 "$b/bench-ninja.log" >&2; return 1; }
    export UFFD_BENCH_BUILD=$b
    export UFFD_SHIMD=$b/shim/uffd-shimd UFFD_SHIMCTL=$b/ctl/uffd-shimctl
    export UFFD_SHIM_HOOK=$b/hooks/uffd-shim-hook UFFD_SHIM_PRELOAD=$b/shim/libuffd-shim-preload.so
    export UFFD_SHIM_LIB=$b/shim/libuffd-shim.so UFFD_PROBE=$b/tests/uffd-probe
    local f
    for f in "$UFFD_SHIMD" "$UFFD_SHIMCTL" "$UFFD_SHIM_HOOK" "$UFFD_SHIM_PRELOAD" "$UFFD_PROBE"; do
        [ -e "$f" ] || { bench_log "build artifact missing: $f"; return 1; }
    done
}

# bench_install: `ninja install` of the build into its own prefix
# ($UFFD_BENCH_BUILD/prefix; a build configured with another prefix is
# reconfigured first); sets SHIM_PREFIX for
# tests/e2e/lib/shim.sh. A QEMU run as libvirt-qemu must reach the preload
# library there, so every directory above it must be searchable by others.
bench_prefix() {
    meson introspect --buildoptions "$1" |
        python3 -c 'import json, sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))'
}
bench_install() {
    # Only ever into the build's own prefix, never the machine's.
    if [ "$(bench_prefix "$UFFD_BENCH_BUILD")" != "$UFFD_BENCH_BUILD/prefix" ]; then
        bench_log "reconfiguring $UFFD_BENCH_BUILD with its own install prefix ($UFFD_BENCH_BUILD/prefix)"
        meson configure "$UFFD_BENCH_BUILD" --prefix="$UFFD_BENCH_BUILD/prefix" --libdir=lib >/dev/null &&
            ninja -C "$UFFD_BENCH_BUILD" >"$UFFD_BENCH_BUILD/bench-ninja.log" 2>&1 || return 1
    fi
    ninja -C "$UFFD_BENCH_BUILD" install >"$UFFD_BENCH_BUILD/bench-install.log" 2>&1 ||
        { tail -n 30 "$UFFD_BENCH_BUILD/bench-install.log" >&2; return 1; }
    SHIM_PREFIX=$UFFD_BENCH_BUILD/prefix
    local pre d mode
    pre=$(find "$SHIM_PREFIX" -path '*/uffd-shim/libuffd-shim-preload.so' 2>/dev/null | head -n 1)
    [ -n "$pre" ] || { bench_log "no preload library installed under $SHIM_PREFIX"; return 1; }
    d=$(dirname "$pre")
    while [ "$d" != / ]; do
        mode=$(stat -c %a "$d") || return 1
        [ $(( 8#$mode & 1 )) = 1 ] || {
            bench_log "$d is not searchable by others: libvirt's QEMU cannot load the" \
                "preload library under it (set UFFD_BENCH_BUILD to a build directory" \
                "below world-searchable directories)"
            return 1
        }
        d=$(dirname "$d")
    done
}

# bench_program_broker PROGRAM TAG: builds bench/PROGRAM, copies it to the
# work directory (sets BIN), checks that the QEMU uid ($QEMU_UID) can run
# it, and starts a private uffd-shimd
# (tests/lib/common.sh's start_broker: sets WORK, BROKER_PID, BROKER_LOG)
# whose only emulator is BIN, with its state directory on tmpfs
# (/dev/shm/uffd-bench-TAG.*) as /run/uffd-shim is on a host.
# BENCH_BROKER=PATH runs another uffd-shimd build (before/after comparisons).
# Call it in the main shell: it sets variables and registers cleanups.
bench_program_broker() {
    local state
    ninja -C "$UFFD_BENCH_BUILD" "bench/$1" >"$UFFD_BENCH_BUILD/bench-ninja.log" 2>&1 ||
        { tail -n 30 "$UFFD_BENCH_BUILD/bench-ninja.log" >&2; return 1; }
    [ -z "${BENCH_BROKER:-}" ] || UFFD_SHIMD=$BENCH_BROKER
    make_workdir
    # A copy in the world-readable work directory: the QEMU user runs it,
    # and the build tree may be below a directory only root can enter.
    install -m 0755 "$UFFD_BENCH_BUILD/bench/$1" "$WORK/$1" || return 1
    BIN=$WORK/$1
    setpriv --reuid="$QEMU_UID" --regid="$QEMU_UID" --clear-groups test -x "$BIN" ||
        { bench_log "uid $QEMU_UID cannot run $BIN"; return 1; }
    BROKER_QEMU_UID=$QEMU_UID BROKER_EMULATORS=$BIN BROKER_TIMEOUT_MS=5000 \
        write_broker_config "$WORK/broker.conf"
    state=$(mktemp -d "/dev/shm/uffd-bench-$2.XXXXXX") || return 1
    on_exit "rm -rf '$state'"
    sed -i "s|^state-dir=.*|state-dir=$state|" "$WORK/broker.conf"
    start_broker "$WORK/broker.conf"
}

# knob_now: the knob's value once no knob window (bench/lib/knob.sh, held
# exclusively, maybe by another run) is open: read under a shared lock.
knob_now() {
    mkdir -p "$(dirname "$UFFD_KNOB_LOCK")" || return 1
    ( exec 9>"$UFFD_KNOB_LOCK" && flock -s 9 && cat /proc/sys/vm/unprivileged_userfaultfd )
}

# with_knob_zero COMMAND...: the counterpart of with_knob_one for the
# "shim" arms: runs COMMAND (in a subshell) with the knob at 0, holding the
# knob lock EXCLUSIVELY without writing the knob; fails without running it
# unless the knob reads 0. Exclusive, not shared: no knob window can open
# meanwhile (with the knob at 1 QEMU's own userfaultfd() would succeed and
# the broker never be asked), and whatever else takes the lock is kept out
# of both arms alike. With a shared lock here, other lock holders would load
# only the shim runs.
with_knob_zero() {
    mkdir -p "$(dirname "$UFFD_KNOB_LOCK")" || return 1
    (
        exec 9>"$UFFD_KNOB_LOCK" && flock -x 9 || exit 1
        v=$(cat "$UFFD_KNOB") || exit 1
        [ "$v" = 0 ] || { bench_log "the knob reads $v, not 0"; exit 1; }
        "$@"
    )
}

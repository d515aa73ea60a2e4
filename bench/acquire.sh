#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark: uffd acquisition by raw syscall (knob 1), raw device open (root) and the library through the broker.
#
# Usage: bench/acquire.sh OUTDIR        (root; the knob must read 0)
#
# Runs bench/acquire.c's three modes at 1, 16 and 256 concurrent client
# processes (BENCH_ACQUIRE_LEVELS, default 1,16,256):
#   syscall  userfaultfd(2) without UFFD_USER_MODE_ONLY as the QEMU uid,
#            inside with_knob_one (bench/lib/knob.sh): knob 1 for this mode
#            only, restored after;
#   device   open("/dev/userfaultfd") + USERFAULTFD_IOC_NEW as root;
#   library  uffd_shim_userfaultfd() as the QEMU uid, knob 0, through a
#            private uffd-shimd (seccomp on, state directory on tmpfs as
#            /run/uffd-shim is on a host), each client a separate process
#            started like libvirt starts QEMU, with its own granted domain.
# While device and library run, the knob lock is held (with_knob_zero) so
# that no knob window opens meanwhile. Writes OUTDIR/acquire.json,
# OUTDIR/acquire.md and the raw per-mode results in OUTDIR/acquire/.
# Progress on stderr.
# BENCH_ACQUIRE_SCALE (default 1) scales the number of acquisitions;
# BENCH_BROKER=PATH measures another uffd-shimd build (the default is the one
# in the build tree).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_PART=acquire
. "$here/lib/build.sh"
. "$here/lib/knob.sh"
. "$BENCH_REPO/tests/lib/common.sh"
trap 'exit 130' INT TERM HUP   # the EXIT trap (common.sh) cleans up

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
OUT=$1
LEVELS=${BENCH_ACQUIRE_LEVELS:-1,16,256}
QEMU_UID=${BENCH_QEMU_UID:-64055}
[ "$(id -u)" = 0 ] || { bench_log "needs root"; exit 1; }
[ -c /dev/userfaultfd ] || { bench_log "needs /dev/userfaultfd (Linux >= 6.1)"; exit 1; }
bench_knob_zero || exit 1
mkdir -p "$OUT/acquire" || exit 1
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/acquire/*.jsonl

bench_log "building"
bench_build || exit 1
bench_program_broker bench-acquire acquire || exit 1
bench_log "broker pid $BROKER_PID (log $BROKER_LOG)"

# run MODE: one mode at every level, JSON lines into OUT/acquire/MODE.jsonl.
run() {
    bench_log "mode $1"
    "$BIN" run --mode "$1" --concurrency "$LEVELS" --qemu-uid "$QEMU_UID" \
        --socket "$WORK/run/uffd.sock" --admin-socket "$WORK/run/admin.sock" \
        --run-dir "$WORK/libvirt" --broker-pid "$BROKER_PID" >"$OUT/acquire/$1.jsonl"
}
# The knob-0 modes hold the knob lock (with_knob_zero, bench/lib/build.sh):
# no knob window can open meanwhile, and the library really asks the broker.
# A mode whose acquisitions failed (counted in its JSON) still has figures:
# the report is written whenever every mode has all its levels, and the
# script fails afterwards.
knob_zero_modes() { local rc=0; run device || rc=1; run library || rc=1; return $rc; }
failed=0
with_knob_zero knob_zero_modes || failed=1
with_knob_one run syscall || failed=1
[ "$(knob_now)" = 0 ] || { bench_log "the knob is not 0 after the syscall mode"; exit 1; }
kill -0 "$BROKER_PID" 2>/dev/null || { bench_log "the broker died: $(tail -n 5 "$BROKER_LOG")"; failed=1; }

n_levels=$(tr ',' '\n' <<<"$LEVELS" | grep -c .)
for m in syscall device library; do
    [ "$(grep -c . "$OUT/acquire/$m.jsonl" 2>/dev/null)" = "$n_levels" ] ||
        { bench_log "mode $m has no figures for every level"; exit 1; }
done
python3 "$here/acquire-report.py" "$OUT" \
    --param "levels=$LEVELS" --param "qemu_uid=$QEMU_UID" \
    --param "scale=${BENCH_ACQUIRE_SCALE:-1}" --param "broker=${BENCH_BROKER:-build tree}" || exit 1
bench_log "wrote $OUT/acquire.json and $OUT/acquire.md"
[ $failed = 0 ] || { bench_log "failed (see the errors column)"; exit 1; }

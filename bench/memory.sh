#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark: the broker's memory idle and across 100,000 grant lifecycles (grant, last hand-out, revoke).
#
# Usage: bench/memory.sh OUTDIR        (root)
#
# Starts a private uffd-shimd (seccomp on, state directory on tmpfs as
# /run/uffd-shim is on a host), measures it idle, then runs bench/memory.c:
# BENCH_MEMORY_COUNT (default 100000) grant lifecycles, each a new domain
# granted over the admin socket, given its last device (LAST, which ends the
# grant) by its "QEMU" (a process of the QEMU uid holding the domain's
# locked libvirt pid file), then revoked as the hook would (nothing left);
# memory sampled at 1,000, 10,000, 50,000 and 100,000 and again once idle.
# Writes OUTDIR/memory.json, OUTDIR/memory.md, the samples in
# OUTDIR/memory/samples.jsonl and the broker's /proc/PID/smaps idle and at
# the end (OUTDIR/memory/smaps-{idle,end}.txt: resident memory per mapping). Progress on stderr. BENCH_BROKER=PATH measures
# another uffd-shimd build (the default is the one in the build tree).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_PART=memory
. "$here/lib/build.sh"
. "$BENCH_REPO/tests/lib/common.sh"
trap 'exit 130' INT TERM HUP   # the EXIT trap (common.sh) cleans up

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
OUT=$1
COUNT=${BENCH_MEMORY_COUNT:-100000}
QEMU_UID=${BENCH_QEMU_UID:-64055}
[ "$(id -u)" = 0 ] || { bench_log "needs root"; exit 1; }
[ -c /dev/userfaultfd ] || { bench_log "needs /dev/userfaultfd (Linux >= 6.1)"; exit 1; }
# The knob does not matter here: the client asks the broker directly
# (uffd_shim_get_device), never the kernel.
mkdir -p "$OUT/memory" || exit 1
OUT=$(cd "$OUT" && pwd)

bench_log "building"
bench_build || exit 1
bench_program_broker bench-memory memory || exit 1
bench_log "broker pid $BROKER_PID; idle for 3 s"
sleep 3
cp "/proc/$BROKER_PID/smaps" "$OUT/memory/smaps-idle.txt" || exit 1
samples=1000,10000,50000,100000
[ "$COUNT" = 100000 ] || samples=$((COUNT / 100)),$((COUNT / 10)),$((COUNT / 2)),$COUNT
bench_log "$COUNT grant lifecycles"
"$BIN" run --socket "$WORK/run/uffd.sock" --admin-socket "$WORK/run/admin.sock" \
    --run-dir "$WORK/libvirt" --broker-pid "$BROKER_PID" --qemu-uid "$QEMU_UID" \
    --count "$COUNT" --samples "$samples" >"$OUT/memory/samples.jsonl" ||
    { bench_log "failed; broker log: $(tail -n 5 "$BROKER_LOG")"; exit 1; }
kill -0 "$BROKER_PID" 2>/dev/null || { bench_log "the broker died: $(tail -n 5 "$BROKER_LOG")"; exit 1; }
cp "/proc/$BROKER_PID/smaps" "$OUT/memory/smaps-end.txt" || exit 1
python3 "$here/memory-report.py" "$OUT" --param "lifecycles=$COUNT" \
    --param "broker=${BENCH_BROKER:-build tree}" \
    --param "qemu_uid=$QEMU_UID" || exit 1
bench_log "wrote $OUT/memory.json and $OUT/memory.md"

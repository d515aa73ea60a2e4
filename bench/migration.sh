#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark: QMP postcopy migrations, plain QEMU at knob 1 against QEMU with uffd-shim at knob 0, interleaved.
#
# Usage: bench/migration.sh [-n PAIRS] OUTDIR   (root; knob 0; PAIRS default $BENCH_N or 5)
#
# Both arms migrate the test guest (tests/guest: 128 MiB, dirties 95 MiB
# continuously, IDE DMA into RAM) between two QEMU 7.2 processes over QMP
# with tests/qmp/postcopy.py, both QEMUs as uid 64055 under libvirt's
# seccomp sandbox, the destination started by the libvirt look-alike
# launcher (locked pid file, status XML). The same bandwidth cap and switch
# point for both:
#   plain  knob 1 (bench/lib/knob.sh), no preload, no broker: QEMU's own
#          userfaultfd() succeeds, as on a host that set the knob;
#   shim   knob 0, LD_PRELOAD of the preload library, a private uffd-shimd
#          (state directory on tmpfs, as /run/uffd-shim) and a grant opened
#          before each run: QEMU gets /dev/userfaultfd from the broker.
# Runs alternate (plain, shim, shim, plain, ...) after one discarded warm-up
# run per arm. Each run, of either arm, holds the knob lock exclusively
# (bench/lib/build.sh with_knob_zero), so test suites that take it are kept
# out of both arms alike; other load on the machine is not: run it on a
# quiet machine (each run records the load average). Every run must pass postcopy.py's checks (guest progresses on
# the destination, no DMA error, RAM dump passes memcheck) or it counts as
# failed: a benchmark that migrates garbage measures nothing.
#
# Writes OUTDIR/migration.json, OUTDIR/migration.md and per-run logs and
# JSON in OUTDIR/migration/. Exits 1 if any run failed.
#
# The switch to postcopy comes right after migration setup (dirty-sync-count
# 1): all of the guest's 95 MiB of dirty pages then move in postcopy, as
# background stream and as page faults served on demand (about 1,000-2,000
# per run), which is where the destination's userfaultfd works and where the
# shim could cost something. A run takes about 5 s (0.5 s of migration).
# libvirt.sh covers the usual switch after one precopy pass.
#
# Tunables (environment): BENCH_MIG_BANDWIDTH (precopy max-bandwidth, bytes/s,
# default 32000000), BENCH_MIG_SWITCH_SYNCS (switch to postcopy when the
# source's dirty-sync-count reaches it, default 1; 2 = after one full
# precopy pass, about 3 s at the default bandwidth), BENCH_MIG_WARMUP
# (discarded runs per arm, default 1), BENCH_MIG_TIMEOUT (s per migration,
# default 300).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_PART=migration
. "$here/lib/build.sh"
. "$here/lib/knob.sh"
. "$BENCH_REPO/tests/lib/common.sh"
trap 'exit 130' INT TERM HUP   # the EXIT trap (common.sh) cleans up

N=${BENCH_N:-5}
while getopts n: o; do
    case $o in
        n) N=$OPTARG ;;
        *) echo "usage: $0 [-n PAIRS] OUTDIR" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { echo "usage: $0 [-n PAIRS] OUTDIR" >&2; exit 2; }
case $N in ''|*[!0-9]*|0) echo "$0: -n wants a positive number" >&2; exit 2 ;; esac
OUT=$(mkdir -p "$1" && cd "$1" && pwd) || exit 1
BW=${BENCH_MIG_BANDWIDTH:-32000000}
SYNCS=${BENCH_MIG_SWITCH_SYNCS:-1}
WARMUP=${BENCH_MIG_WARMUP:-1}
TIMEOUT=${BENCH_MIG_TIMEOUT:-300}

[ "$(id -u)" = 0 ] || { bench_log "needs root"; exit 1; }
[ -c /dev/userfaultfd ] || { bench_log "needs /dev/userfaultfd (Linux >= 6.1)"; exit 1; }
bench_knob_zero || exit 1
for c in python3 qemu-system-x86_64 setpriv flock as ld objcopy; do
    command -v "$c" >/dev/null || { bench_log "needs $c"; exit 1; }
done
bench_build || exit 1

QEMU=$(command -v qemu-system-x86_64)
QEMU_UID=64055
UUID=5b0c2a8e-6f1d-4c3b-9e27-0d4f8a6b1c93
DOM=bench-dst
# tmpfs: the broker saves its state file with fsync on every hand-out, and
# on a host its state directory is /run/uffd-shim (tmpfs).
WORK=$(mktemp -d /dev/shm/uffd-bench-mig.XXXXXX) || exit 1
chmod 0755 "$WORK"
on_exit "rm -rf '$WORK'"
mkdir -p "$OUT/migration"
rm -f "$OUT"/migration/*.json "$OUT"/migration/*.log

"$BENCH_REPO/tests/guest/build-guest.sh" "$WORK/guest.img" >"$WORK/build-guest.log" 2>&1 ||
    { cat "$WORK/build-guest.log" >&2; exit 1; }
chown "$QEMU_UID:$QEMU_UID" "$WORK/guest.img"
install -m 0755 "$UFFD_SHIM_PRELOAD" "$WORK/preload.so"
BROKER_QEMU_UID=$QEMU_UID BROKER_EMULATORS="$QEMU" BROKER_USES=8 write_broker_config "$WORK/broker.conf"
start_broker "$WORK/broker.conf" || exit 1

SRC_PREFIX="setpriv --reuid=$QEMU_UID --regid=$QEMU_UID --clear-groups --inh-caps=-all --bounding-set=-all --"
LAUNCH="python3 $TESTS_DIR/integration/fake-libvirt-launch.py --run-dir $WORK/libvirt --name $DOM --uuid $UUID --uid $QEMU_UID --"
PRELOAD_ENV="env LD_PRELOAD=$WORK/preload.so UFFD_SHIM_SOCKET=$WORK/run/uffd.sock"

# one_run ARM TAG: one migration; OUT/migration/TAG.{json,log}; adds the
# arm, the hand-outs and the knob seen by the run to the JSON.
one_run() {
    local arm=$1 tag=$2 prefix rc n0 n1 knob_seen
    if [ "$arm" = shim ]; then
        prefix="$LAUNCH $PRELOAD_ENV"
        ctl grant "$DOM" "$UUID" >/dev/null || { bench_log "$tag: grant failed"; return 1; }
    else
        prefix=$LAUNCH
    fi
    knob_seen=$(knob_value)
    n0=$(audit | grep -c "decision=grant reason=ok .*domain=$DOM ")
    rm -rf "${WORK:?}/$tag"
    python3 "$TESTS_DIR/qmp/postcopy.py" --disk "$WORK/guest.img" --workdir "$WORK/$tag" \
        --qemu "$QEMU" --sandbox --src-prefix "$SRC_PREFIX" --dst-prefix "$prefix" \
        --bandwidth "$BW" --switch-after-syncs "$SYNCS" --timeout "$TIMEOUT" --events \
        --json "$OUT/migration/$tag.json" >"$OUT/migration/$tag.log" 2>&1
    rc=$?
    n1=$(audit | grep -c "decision=grant reason=ok .*domain=$DOM ")
    [ "$arm" = shim ] && ctl revoke "$DOM" >/dev/null 2>&1
    rm -rf "${WORK:?}/$tag"
    python3 - "$OUT/migration/$tag.json" "$arm" "$tag" "$((n1 - n0))" "$knob_seen" "$rc" <<'EOF'
import json, sys
path, arm, tag, handouts, knob, rc = sys.argv[1:]
try:
    with open(path) as f:
        r = json.load(f)
except (OSError, ValueError):
    r = {"outcome": "fail", "error": "postcopy.py wrote no result"}
r.update(arm=arm, run=tag, handouts=int(handouts), knob=int(knob), rc=int(rc),
         loadavg=float(open("/proc/loadavg").read().split()[0]))
with open(path, "w") as f:
    json.dump(r, f, indent=2, sort_keys=True)
EOF
    bench_log "$tag: $(tail -n 1 "$OUT/migration/$tag.log")"
    return $rc
}

arm_run() { # ARM TAG: the run with the arm's knob, the knob lock held exclusively either way
    if [ "$1" = plain ]; then with_knob_one one_run "$@"; else with_knob_zero one_run "$@"; fi
}

failed=0
for ((w = 1; w <= WARMUP; w++)); do
    arm_run plain "warmup-plain-$w" || failed=1
    arm_run shim "warmup-shim-$w" || failed=1
done
for ((i = 1; i <= N; i++)); do
    if [ $((i % 2)) = 1 ]; then order="plain shim"; else order="shim plain"; fi
    for arm in $order; do
        arm_run "$arm" "$arm-$i" || failed=1
    done
done

python3 "$here/lib/report.py" migration "$OUT" \
    --param pairs="$N" --param warmup_per_arm="$WARMUP" --param bandwidth_bytes_per_s="$BW" \
    --param switch_after_dirty_syncs="$SYNCS" --param guest="tests/guest, 128 MiB, 95 MiB dirtied" \
    --param transport="socket pair (fd:)" --param qemu="$("$QEMU" --version | head -n 1)" || failed=1
exit $failed

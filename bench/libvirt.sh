#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark: virsh postcopy migrations between real libvirt hosts with and without uffd-shim, and the hook's own time.
#
# Usage: bench/libvirt.sh [-n PAIRS] [-i HOOK_ITERATIONS] OUTDIR
#        (root; knob 0; PAIRS default $BENCH_N or 4)
#
# Three libvirt 9.0 "hosts" on this machine (tests/e2e/lib/hosts.sh: private
# mount namespaces, each its own libvirtd and virtlogd): src, and two
# identical destinations:
#   dstp   plain: no hook, no broker; its migrations run with the knob at 1
#          (bench/lib/knob.sh), as on a host that set it;
#   dsts   shim: uffd-shimd and uffd-shim-hook (`uffd-shimctl hook install`)
#          from this tree, installed into the bench build's prefix; knob 0.
# Each run starts a fresh guest (tests/guest, 128 MiB) on src and times
#   virsh migrate --live --unsafe --postcopy --postcopy-after-precopy
#         --bandwidth 32 DOMAIN DST --migrateuri tcp://127.0.0.1
# (wall time of the virsh command), then checks on the destination that it
# switched to postcopy, runs, saw no DMA error and that a RAM dump passes
# tests/guest/memcheck.py. Runs alternate plain/shim, after one discarded
# warm-up run per arm; either arm's migration holds the knob lock
# exclusively (see migration.sh).
#
# The hook's own time: bench/lib/hookbench.py runs the installed hook inside
# dsts (its broker running) per libvirt operation, HOOK_ITERATIONS times
# each (default 200), with the migratable XML of a real guest on stdin. And
# as libvirtd saw it: the spawn and exit of each hook run in dsts's
# libvirtd debug log (util.hook, util.command) during the measured shim
# migrations.
#
# Writes OUTDIR/libvirt.json, OUTDIR/libvirt.md and logs in OUTDIR/libvirt/.
# Exits 1 if any migration failed or the hook could not be timed.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_PART=libvirt
. "$here/lib/build.sh"
. "$here/lib/knob.sh"
. "$BENCH_REPO/tests/lib/common.sh"
trap 'exit 130' INT TERM HUP   # the EXIT trap (common.sh) cleans up
E2E_LIBVIRTD_LOG_FILTERS="1:util.command"
. "$BENCH_REPO/tests/e2e/lib/hosts.sh"
. "$BENCH_REPO/tests/e2e/lib/shim.sh"
. "$here/lib/hosts.sh"

N=${BENCH_N:-4}
ITER=200
usage() { echo "usage: $0 [-n PAIRS] [-i HOOK_ITERATIONS] OUTDIR" >&2; exit 2; }
while getopts n:i: o; do
    case $o in
        n) N=$OPTARG ;;
        i) ITER=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
case $N$ITER in *[!0-9]*) usage ;; esac
[ "$N" -gt 0 ] && [ "$ITER" -gt 0 ] || usage
OUT=$(mkdir -p "$1" && cd "$1" && pwd) || exit 1
WARMUP=${BENCH_LIBVIRT_WARMUP:-1}
PC=(--postcopy --postcopy-after-precopy --bandwidth 32)
MEM_MIB=128

D=$OUT/libvirt
bench_hosts_up
HOOK_INSTALLED=$(host_root dsts)/etc/libvirt/hooks/qemu.d/50-uffd-shim
[ -x "$HOOK_INSTALLED" ] || { bench_log "no hook installed in dsts"; exit 1; }
LVLOG=$(host_dir dsts)/log/libvirtd.log

# migrate_rec SRC DST DOM: `migrate` (hosts.sh) with the result in $D/DOM.rec
# (it may run in a subshell: with_knob_one).
migrate_rec() {
    migrate "$@" "${PC[@]}"
    printf '%s %s %s\n' "$E2E_MIGRATE_RC" "$E2E_MIGRATE_SECONDS" "$E2E_MIGRATE_POSTCOPY" >"$D/$3.rec"
    cp "$E2E_MIGRATE_LOG" "$D/$3.migrate.log" 2>/dev/null
}

# one_run ARM TAG [warmup]: one fresh guest, one migration, one JSON line.
one_run() {
    local arm=$1 tag=$2 warm=${3:-false} dom dst rc=1 secs=0 pc=0 ok=false err='' mc=n/a l0 l1 calls
    dom=b$arm-$tag
    dst=dstp
    [ "$arm" = shim ] && dst=dsts
    if ! guest_start "$dom" "$IMG"; then
        err="guest does not start on src"
    else
        l0=$(wc -l <"$LVLOG")
        if [ "$arm" = plain ]; then
            with_knob_one migrate_rec src "$dst" "$dom"
        else
            with_knob_zero migrate_rec src "$dst" "$dom"
        fi
        l1=$(wc -l <"$LVLOG")
        read -r rc secs pc <"$D/$dom.rec" || rc=1
        # hook spawns logged by dsts's libvirtd during this migration
        calls=$(sed -n "$((l0 + 1)),${l1}p" "$LVLOG" | grep -c "About to run .*hooks/qemu.d/50-uffd-shim")
        sed -n "$((l0 + 1)),${l1}p" "$LVLOG" >"$D/$dom.libvirtd.log"
        if [ "$rc" != 0 ]; then
            err="virsh migrate exit $rc: $(grep -m1 error "$D/$dom.migrate.log")"
        elif [ "$pc" != 1 ]; then
            err="no switch to postcopy seen"
        elif [ "$arm" = shim ] && ! shim_audit dsts | grep -q "decision=grant reason=ok .*domain=$dom "; then
            err="the broker handed nothing to $dom's QEMU"
        elif ! mc=$(memcheck_on "$dst" "$dom"); then
            err="destination check: $mc"
        else
            ok=true
        fi
    fi
    host_virsh "$dst" destroy "$dom" >/dev/null 2>&1
    host_virsh src destroy "$dom" >/dev/null 2>&1
    printf '{"run": "%s", "arm": "%s", "warmup": %s, "ok": %s, "seconds": %s, "rc": %s, "postcopy": %s, "memcheck": "%s", "hook_calls": %s, "loadavg": %s, "domain": "%s"%s}\n' \
        "$tag" "$arm" "$warm" "$ok" "${secs:-0}" "${rc:-1}" "$([ "$pc" = 1 ] && echo true || echo false)" \
        "${mc//\"/}" "${calls:-0}" "$(cut -d' ' -f1 /proc/loadavg)" "$dom" "${err:+, \"error\": \"${err//\"/\'}\"}" >>"$D/migrations.jsonl"
    bench_log "$tag $arm: ok=$ok ${secs}s postcopy=$pc memcheck=$mc ${err:+($err)}"
    [ "$ok" = true ]
}

failed=0
for ((w = 1; w <= WARMUP; w++)); do
    one_run plain "warmup$w" true || failed=1
    one_run shim "warmup$w" true || failed=1
done
# hook calls seen by libvirtd from here on are the measured ones
L_MEASURED=$(wc -l <"$LVLOG")
for ((i = 1; i <= N; i++)); do
    if [ $((i % 2)) = 1 ]; then order="plain shim"; else order="shim plain"; fi
    for arm in $order; do
        one_run "$arm" "$i" || failed=1
    done
done
sed -n "$((L_MEASURED + 1)),\$p" "$LVLOG" >"$D/libvirtd-dsts-measured.log"
python3 "$here/lib/hooklog.py" "$D/libvirtd-dsts-measured.log" dsts >"$D/hook-libvirtd.json" ||
    bench_log "could not read hook timings from libvirtd's log"

# The hook alone: the migratable XML of a real guest, as `migrate begin` gets it.
guest_start bhook "$IMG" || { bench_log "guest for the hook XML does not start"; exit 1; }
host_virsh src dumpxml --migratable bhook >"$D/hook-domain.xml"
host_virsh src destroy bhook >/dev/null 2>&1
sed -i "s|<name>bhook</name>|<name>bench-hook</name>|" "$D/hook-domain.xml"
HUUID=$(sed -n 's|.*<uuid>\(.*\)</uuid>.*|\1|p' "$D/hook-domain.xml" | head -n 1)
bench_log "timing the hook: $ITER iterations per operation"
host_exec dsts python3 "$here/lib/hookbench.py" --hook /etc/libvirt/hooks/qemu.d/50-uffd-shim \
    --xml "$D/hook-domain.xml" --name bench-hook --uuid "$HUUID" \
    --ctl "$SHIM_PREFIX/sbin/uffd-shimctl" --iterations "$ITER" --json "$D/hook-direct.json" ||
    { bench_log "hook timing failed"; failed=1; }

python3 "$here/lib/report.py" libvirt "$OUT" --param pairs="$N" --param warmup_per_arm="$WARMUP" \
    --param hook_iterations="$ITER" \
    --param migrate="virsh migrate --live --unsafe ${PC[*]} --migrateuri tcp://127.0.0.1" \
    --param guest="tests/guest, 128 MiB, 95 MiB dirtied" \
    --param libvirt="$(libvirtd --version | awk '{print $NF}')" || failed=1
exit $failed

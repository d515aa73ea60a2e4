#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark: N guests evacuated into one destination at once with postcopy, with uffd-shim (knob 0) and with the knob at 1.
#
# Usage: bench/evacuate.sh [-n PAIRS] OUTDIR   (root; knob 0)
#
# Three libvirt 9.0 "hosts" as in bench/libvirt.sh (tests/e2e/lib/hosts.sh):
# src, and two identical destinations, dstp (no hook, no broker: its
# migrations run with the knob at 1, bench/lib/knob.sh) and dsts (uffd-shimd
# and the hook from this tree, knob 0). For each level N of
# BENCH_EVACUATE_LEVELS (default 1,4,8) and each arm, an evacuation starts N
# fresh guests (tests/guest, 128 MiB, each dirtying 95 MiB all the time) on
# src, then runs N
#   virsh migrate --live --unsafe --postcopy --postcopy-after-precopy
#         --bandwidth 32 DOMAIN DST --migrateuri tcp://127.0.0.1
# at once and measures the wall time from the first migrate started to the
# last one completed, each migration's own wall time, and the total time,
# downtime and postcopy page requests libvirt reports for it (the source's
# job-completed event: time_elapsed, downtime, memory_postcopy_requests).
# Every guest must then have switched to postcopy, run on the
# destination without DMA error, pass tests/guest/memcheck.py on a dump of
# its RAM and, in the shim arm, have had its QEMU served by the broker.
# The arms alternate (plain first at odd levels of odd pairs), after one
# discarded warm-up evacuation of one guest per arm
# (BENCH_EVACUATE_WARMUP, default 1); each evacuation holds the knob lock
# exclusively, as in bench/migration.sh. PAIRS (default
# BENCH_EVACUATE_PAIRS or 1) repeats the whole set of levels.
#
# All the guests of a level run at once on the source and then on the
# destination, under TCG: on a machine with fewer cores than 2 N they share
# the CPUs, and the figures measure that overcommit as much as the shim.
#
# Writes OUTDIR/evacuate.json, OUTDIR/evacuate.md and logs in OUTDIR/evacuate/.
# Exits 1 if any migration failed.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_PART=evacuate
. "$here/lib/build.sh"
. "$here/lib/knob.sh"
. "$BENCH_REPO/tests/lib/common.sh"
trap 'exit 130' INT TERM HUP   # the EXIT trap (common.sh) cleans up
. "$BENCH_REPO/tests/e2e/lib/hosts.sh"
. "$BENCH_REPO/tests/e2e/lib/shim.sh"
. "$here/lib/hosts.sh"

PAIRS=${BENCH_EVACUATE_PAIRS:-1}
usage() { echo "usage: $0 [-n PAIRS] OUTDIR" >&2; exit 2; }
while getopts n: o; do
    case $o in
        n) PAIRS=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
case $PAIRS in ''|*[!0-9]*) usage ;; esac
[ "$PAIRS" -gt 0 ] || usage
LEVELS=${BENCH_EVACUATE_LEVELS:-1,4,8}
case ,$LEVELS, in *[!0-9,]*|*,,*|*,0,*) echo "BENCH_EVACUATE_LEVELS wants N[,N...]" >&2; exit 2 ;; esac
IFS=, read -r -a LEVEL_LIST <<<"$LEVELS"
OUT=$(mkdir -p "$1" && cd "$1" && pwd) || exit 1
WARMUP=${BENCH_EVACUATE_WARMUP:-1}
PC=(--postcopy --postcopy-after-precopy --bandwidth 32)
MEM_MIB=128

D=$OUT/evacuate
bench_hosts_up

# start_guests DOM...: every guest created on src (each with a copy of the
# image: QEMU locks its disk), then each printing progress.
start_guests() {
    local d i
    for d in "$@"; do
        cp --sparse=always "$IMG" "$E2E_BASE/images/$d.img" && chmod 0644 "$E2E_BASE/images/$d.img" &&
            host_start_domain src "$d" "$E2E_BASE/images/$d.img" "$MEM_MIB" ||
            { bench_log "$d does not start on src"; return 1; }
    done
    for d in "$@"; do
        for ((i = 0; i < 300; i++)); do
            grep -q "^P " "$(host_serial_log src "$d")" 2>/dev/null && continue 2
            sleep 0.2
        done
        bench_log "$d prints no progress on src"
        return 1
    done
}

# migrate_all DST DOM...: every migration at once (in the knob window of the
# caller); each writes $D/DOM.rec: rc seconds postcopy start end.
migrate_all() {
    local dst=$1 d pids=()
    shift
    for d in "$@"; do
        (
            migrate src "$dst" "$d" "${PC[@]}"
            printf '%s %s %s %s %s\n' "$E2E_MIGRATE_RC" "$E2E_MIGRATE_SECONDS" \
                "$E2E_MIGRATE_POSTCOPY" "$E2E_MIGRATE_START" "$E2E_MIGRATE_END" >"$D/$d.rec"
            cp "$E2E_MIGRATE_LOG" "$D/$d.migrate.log" 2>/dev/null
        ) &
        pids+=($!)
    done
    wait "${pids[@]}"
}

# job_stat LOG DOM KEY: KEY of DOM's job-completed event on the source, from
# a `migrate` log (hosts.sh: both hosts' `virsh event --all` output).
job_stat() {
    awk -v d="domain '$2':" -v k="$3" '
        /^--- events on / { src = ($0 == "--- events on src"); blk = 0; next }
        src && /event .job-completed. for domain/ { blk = (substr($0, length($0) - length(d) + 1) == d); next }
        blk && /^\t/ { sub(/^\t/, ""); n = index($0, ": "); if (substr($0, 1, n - 1) == k) { print substr($0, n + 2); exit } next }
        { blk = 0 }' "$1"
}

# evacuate ARM N TAG [warmup]: N fresh guests, migrated at once; one JSON
# line per guest in guests.jsonl, one per evacuation in evacuations.jsonl.
evacuate() {
    local arm=$1 n=$2 tag=$3 warm=${4:-false} dst=dstp doms=() d i rc secs pc t0 t1 ok err mc
    local log total down req n_ok=0 n_mig=0 first='' last='' load
    [ "$arm" = shim ] && dst=dsts
    for ((i = 1; i <= n; i++)); do doms+=("e$arm-$tag-n$n-$i"); done
    if ! start_guests "${doms[@]}"; then
        for d in "${doms[@]}"; do
            host_virsh src destroy "$d" >/dev/null 2>&1
            rm -f "$E2E_BASE/images/$d.img"
        done
        printf '{"level": %s, "run": "%s", "arm": "%s", "warmup": %s, "ok": false, "guests": %s, "guests_ok": 0, "error": "guests did not start"}\n' \
            "$n" "$tag" "$arm" "$warm" "$n" >>"$D/evacuations.jsonl"
        return 1
    fi
    for d in "${doms[@]}"; do rm -f "$D/$d.rec"; done
    bench_log "$tag $arm: evacuating $n guest(s) into $dst"
    if [ "$arm" = plain ]; then
        with_knob_one migrate_all "$dst" "${doms[@]}"
    else
        with_knob_zero migrate_all "$dst" "${doms[@]}"
    fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    for d in "${doms[@]}"; do
        rc=1 secs=0 pc=0 t0='' t1='' ok=false err='' mc=n/a
        read -r rc secs pc t0 t1 <"$D/$d.rec" 2>/dev/null || rc=1
        if [ -n "$t0" ]; then
            [ -z "$first" ] || [ "$(awk -v a="$t0" -v b="$first" 'BEGIN { print (a < b) }')" = 1 ] && first=$t0
            [ -z "$last" ] || [ "$(awk -v a="$t1" -v b="$last" 'BEGIN { print (a > b) }')" = 1 ] && last=$t1
        fi
        log=$D/$d.migrate.log
        total=$(job_stat "$log" "$d" time_elapsed)
        down=$(job_stat "$log" "$d" downtime)
        req=$(job_stat "$log" "$d" memory_postcopy_requests)
        [ "$rc" = 0 ] && [ "$pc" = 1 ] && n_mig=$((n_mig + 1))
        if [ "$rc" != 0 ]; then
            err="virsh migrate exit $rc: $(grep -m1 error "$D/$d.migrate.log")"
        elif [ "$pc" != 1 ]; then
            err="no switch to postcopy seen"
        elif [ "$arm" = shim ] && ! shim_audit dsts | grep -q "decision=grant reason=ok .*domain=$d "; then
            err="the broker handed nothing to $d's QEMU"
        elif ! mc=$(memcheck_on "$dst" "$d"); then
            err="destination check: $mc"
        else
            ok=true
            n_ok=$((n_ok + 1))
        fi
        host_virsh "$dst" destroy "$d" >/dev/null 2>&1
        host_virsh src destroy "$d" >/dev/null 2>&1
        rm -f "$E2E_BASE/images/$d.img"
        printf '{"level": %s, "run": "%s", "arm": "%s", "warmup": %s, "domain": "%s", "ok": %s, "seconds": %s, "rc": %s, "postcopy": %s, "start": %s, "end": %s, "total_ms": %s, "downtime_ms": %s, "postcopy_requests": %s, "memcheck": "%s"%s}\n' \
            "$n" "$tag" "$arm" "$warm" "$d" "$ok" "${secs:-0}" "${rc:-1}" \
            "$([ "$pc" = 1 ] && echo true || echo false)" "${t0:-null}" "${t1:-null}" \
            "${total:-null}" "${down:-null}" "${req:-null}" "${mc//\"/}" \
            "${err:+, \"error\": \"${err//\"/\'}\"}" >>"$D/guests.jsonl"
        [ "$ok" = true ] || bench_log "$tag $arm $d: $err"
    done
    printf '{"level": %s, "run": "%s", "arm": "%s", "warmup": %s, "ok": %s, "guests": %s, "guests_ok": %s, "guests_migrated": %s, "wall_s": %s, "loadavg": %s}\n' \
        "$n" "$tag" "$arm" "$warm" "$([ "$n_ok" = "$n" ] && echo true || echo false)" "$n" "$n_ok" "$n_mig" \
        "$([ -n "$first" ] && [ -n "$last" ] && awk -v a="$first" -v b="$last" 'BEGIN { printf "%.3f", b - a }' || echo null)" \
        "$load" >>"$D/evacuations.jsonl"
    bench_log "$tag $arm: $n_ok/$n guests ok"
    [ "$n_ok" = "$n" ]
}

failed=0
for ((w = 1; w <= WARMUP; w++)); do
    evacuate plain 1 "warmup$w" true || failed=1
    evacuate shim 1 "warmup$w" true || failed=1
done
for ((p = 1; p <= PAIRS; p++)); do
    for ((l = 0; l < ${#LEVEL_LIST[@]}; l++)); do
        n=${LEVEL_LIST[$l]}
        if [ $(((p + l) % 2)) = 1 ]; then order="plain shim"; else order="shim plain"; fi
        for arm in $order; do
            evacuate "$arm" "$n" "$p" || failed=1
        done
    done
done

python3 "$here/lib/report.py" evacuate "$OUT" --param levels="$LEVELS" --param pairs="$PAIRS" \
    --param warmup_per_arm="$WARMUP" \
    --param migrate="virsh migrate --live --unsafe ${PC[*]} --migrateuri tcp://127.0.0.1, all N at once" \
    --param guest="tests/guest, $MEM_MIB MiB, 95 MiB dirtied" \
    --param cores="$(nproc)" \
    --param libvirt="$(libvirtd --version | awk '{print $NF}')" || failed=1
exit $failed

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The benchmark command: runs the bench/ parts, prints the Markdown report and writes bench.json.
#
# Usage (root, from anywhere):
#   bench/run.sh [--only PART[,PART...]] [-n N] [OUTDIR]
#
#   PART    acquire, migration, libvirt, evacuate, memory (default: all, in
#           that order);
#           each is bench/PART.sh OUTDIR, which writes OUTDIR/PART.json and
#           OUTDIR/PART.md and exits non-zero on failure
#   -n N    interleaved pairs of the migration and libvirt parts (exported
#           as BENCH_N; default 5 and 4); acquire, evacuate and memory size
#           themselves (BENCH_ACQUIRE_SCALE, BENCH_EVACUATE_LEVELS and
#           BENCH_EVACUATE_PAIRS, BENCH_MEMORY_COUNT)
#   OUTDIR  default ./bench-results/YYYYMMDD-HHMMSS
#
# Installs missing Debian packages (scripts/deps.sh), builds the tree into
# $UFFD_BENCH_BUILD (default build-bench in the source tree), refuses to start
# unless vm.unprivileged_userfaultfd is 0 (the parts compare against the knob
# at 1 in short, locked windows: bench/lib/knob.sh) and puts it back to its
# value at the start whatever happens. Writes OUTDIR/bench.json (machine and
# all parts), OUTDIR/bench.md (also printed on stdout), OUTDIR/PART.log.
# Exit status: 0 if every part succeeded (targets missed are reported, not
# failures), 1 otherwise, 2 on a usage error.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_PART=run
. "$here/lib/build.sh"
. "$here/lib/knob.sh"

ALL_PARTS=(acquire migration libvirt evacuate memory)
usage() {
    sed -n '/^# Usage/,/^#   OUTDIR/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
parts=("${ALL_PARTS[@]}")
OUT=
while [ $# -gt 0 ]; do
    case $1 in
        --only) [ $# -ge 2 ] || usage; IFS=, read -r -a parts <<<"$2"; shift 2 ;;
        --only=*) IFS=, read -r -a parts <<<"${1#--only=}"; shift ;;
        -n) [ $# -ge 2 ] || usage; export BENCH_N=$2; shift 2 ;;
        -h|--help) usage ;;
        -*) usage ;;
        *) [ -z "$OUT" ] || usage; OUT=$1; shift ;;
    esac
done
for p in "${parts[@]}"; do
    case " ${ALL_PARTS[*]} " in *" $p "*) ;; *) echo "unknown part '$p' (parts: ${ALL_PARTS[*]})" >&2; exit 2 ;; esac
done
case ${BENCH_N:-1} in ''|*[!0-9]*|0) echo "-n wants a positive number" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "bench/run.sh must run as root" >&2; exit 1; }
bench_knob_zero || exit 1
KNOB0=0   # bench_knob_zero just read it (under the lock)

# Whatever happens: the knob back to its value at the start (under the same
# lock as bench/lib/knob.sh, so a window of another run is not cut short),
# and the part that is running stopped by its pid.
PART_PID=
finish() {
    [ -n "$PART_PID" ] && kill -TERM "$PART_PID" 2>/dev/null && wait "$PART_PID" 2>/dev/null
    # A knob window (ours, or another run's) may be open: wait for it to
    # close, then put the value back if nobody did.
    [ "$(knob_value)" = "$KNOB0" ] && return
    (
        exec 9>"$UFFD_KNOB_LOCK" && flock -x -w 120 9 ||
            { bench_log "the knob lock stays taken (another run's window?): knob left at $(knob_value)"; exit 1; }
        [ "$(knob_value)" = "$KNOB0" ] || { echo "$KNOB0" >"$UFFD_KNOB"; bench_log "knob restored to $KNOB0"; }
    )
}
trap finish EXIT
trap 'exit 130' INT TERM HUP

OUT=${OUT:-$PWD/bench-results/$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || exit 1

need=()
for c in meson ninja gcc pkg-config python3 as ld objcopy setpriv flock qemu-system-x86_64 \
    virsh libvirtd virtlogd unshare nsenter; do
    command -v "$c" >/dev/null 2>&1 || need+=("$c")
done
if [ ${#need[@]} -gt 0 ]; then
    bench_log "missing ${need[*]}: running scripts/deps.sh"
    "$BENCH_REPO/scripts/deps.sh" >&2 || exit 1
fi
bench_log "building into ${UFFD_BENCH_BUILD:-$BENCH_REPO/build-bench}"
bench_build || exit 1

machine() {
    local kvm=no
    [ -c /dev/kvm ] && [ -r /dev/kvm ] && grep -qE 'vmx|svm' /proc/cpuinfo && kvm="yes (the benchmarks use TCG anyway)"
    [ "$kvm" = no ] && kvm="no (TCG)"
    python3 - "$OUT/machine.json" "$kvm" \
        "$(qemu-system-x86_64 --version | head -n 1)" "$(libvirtd --version 2>/dev/null)" \
        "$(git -C "$BENCH_REPO" describe --always --dirty 2>/dev/null || echo unknown)" <<'EOF'
import datetime, json, os, platform, sys
out, kvm, qemu, libvirt, rev = sys.argv[1:]
def first(path, key):
    try:
        for line in open(path):
            if line.startswith(key):
                return line.split(":", 1)[1].strip() if ":" in line else line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "unknown"
mem = first("/proc/meminfo", "MemTotal")
try:
    mem = "%.1f GiB" % (int(mem.split()[0]) / 1048576)
except (ValueError, IndexError):
    pass
deb = "unknown"
try:
    deb = open("/etc/debian_version").read().strip()
except OSError:
    pass
m = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
     "os": "%s (debian_version %s)" % (first("/etc/os-release", "PRETTY_NAME="), deb),
     "kernel": platform.release(), "cpu": first("/proc/cpuinfo", "model name"),
     "cores": os.cpu_count(), "memory": mem, "virtualization": kvm,
     "qemu": qemu.replace("QEMU emulator version ", ""), "libvirt": libvirt.split()[-1] if libvirt else "unknown",
     "uffd_shim": rev, "load": " ".join(open("/proc/loadavg").read().split()[:3]),
     "knob_at_start": int(open("/proc/sys/vm/unprivileged_userfaultfd").read())}
json.dump(m, open(out, "w"), indent=2)
EOF
}
machine || exit 1

failed=0
status_args=()
for p in "${parts[@]}"; do
    rm -f "$OUT/$p.json" "$OUT/$p.md"
    if [ ! -x "$here/$p.sh" ]; then
        bench_log "part $p: $here/$p.sh missing"
        rc=127
    else
        bench_log "part $p (log: $OUT/$p.log)"
        "$here/$p.sh" "$OUT" > >(tee "$OUT/$p.log" >&2) 2>&1 &
        PART_PID=$!
        wait "$PART_PID"
        rc=$?
        PART_PID=
    fi
    if [ "$(knob_now)" != "$KNOB0" ]; then
        bench_log "part $p left the knob at $(knob_now): stopping"
        exit 1
    fi
    [ $rc = 0 ] || { failed=1; bench_log "part $p failed (exit $rc)"; }
    status_args+=("$p=$rc")
done

python3 - "$OUT/machine.json" "${status_args[@]}" <<'EOF'
import json, sys
path = sys.argv[1]
m = json.load(open(path))
m["status"] = {k: int(v) for k, v in (a.split("=", 1) for a in sys.argv[2:]) if v != "0"}
json.dump(m, open(path, "w"), indent=2)
EOF
python3 "$here/lib/report.py" combine "$OUT" --machine "$OUT/machine.json" "${parts[@]}" || failed=1
bench_log "report: $OUT/bench.md, $OUT/bench.json"
exit $failed

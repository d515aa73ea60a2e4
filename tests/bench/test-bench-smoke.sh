#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The benchmark command still works: a small bench/run.sh (acquire, migration, evacuate, memory) gives complete, well-formed reports and restores the knob.
#
# Behaviour only, no figure is judged (targets are the benchmarks' business):
# every part runs, every acquisition of every method succeeds, every
# migration completes with the guest's memory intact and the broker's
# hand-outs where they belong (two guests evacuated at once per arm, too),
# one device per grant lifecycle, the JSON and
# Markdown reports are complete, the knob is 0 again and nothing the parts
# started is left running. The knob is 1 only inside bench/lib/knob.sh's
# windows, which restore it.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib/common.sh"

require_root
require_device
require_cmd qemu-system-x86_64 setpriv flock python3
require_knob_zero
. "$here/../e2e/lib/hosts.sh"
why=$(e2e_missing_env)
[ -z "$why" ] || skip_all "evacuate needs the e2e environment: $why"
REPO=${UFFD_SHIM_SRCDIR:-$(cd "$here/../.." && pwd)}
: "${MESON_BUILD_ROOT:?run by meson test}"
make_workdir
OUT=$WORK/bench
# A build of its own: evacuate installs the build into the build's own
# prefix (reconfiguring it if needed), which the test's build must not get,
# and QEMU must be able to reach the preload library in it.
BUILD=$WORK/build-bench

BENCH_ACQUIRE_LEVELS=1,4 BENCH_ACQUIRE_SCALE=0.05 BENCH_MEMORY_COUNT=300 \
BENCH_MIG_WARMUP=0 BENCH_EVACUATE_LEVELS=2 BENCH_EVACUATE_PAIRS=1 BENCH_EVACUATE_WARMUP=0 \
UFFD_BENCH_BUILD=$BUILD E2E_BASE=$WORK/e2e \
    bash "$REPO/bench/run.sh" --only acquire,migration,evacuate,memory -n 1 "$OUT" \
    >"$WORK/run.out" 2>"$WORK/run.err"
rc=$?
check "bench/run.sh --only acquire,migration,evacuate,memory -n 1 exits 0" test "$rc" = 0
[ "$rc" = 0 ] || diag "$(tail -n 30 "$WORK/run.err")"
check "the knob reads 0 afterwards" test "$(knob)" = 0
# Its brokers and clients run from the build tree, its QEMUs on
# /dev/shm/uffd-bench-*, the evacuated guests are named e{plain,shim}-*.
check "no process of the benchmark is left (broker, clients, QEMU)" \
    bash -c '! ps -eo args= | grep -v grep | grep -qE "^($1/shim/uffd-shimd|$1/bench/bench-)|/dev/shm/uffd-bench-|guest=e(plain|shim)-[0-9]"' _ "$BUILD"
check "the report is printed and written (bench.md)" \
    bash -c 'grep -q "^## uffd acquisition" "$1" && cmp -s "$1" "$2"' _ "$OUT/bench.md" "$WORK/run.out"

verdicts=$(python3 - "$OUT/bench.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
parts = {p["part"]: p for p in b["parts"]} if isinstance(b.get("parts"), list) else b.get("parts", {})
m = b.get("machine", {})
print("machine", "ok" if m.get("kernel") and m.get("cores") and m.get("qemu") else "bad")
a = parts.get("acquire", {}).get("results", [])
modes = {(r["mode"], r["concurrency"]) for r in a}
want = {(mo, c) for mo in ("syscall", "device", "library") for c in (1, 4)}
print("acquire-complete", "ok" if want <= modes else "bad %r" % sorted(want - modes))
print("acquire-errors", "ok" if a and all(r["errors"] == 0 and r["acquisitions"] > 0 and r["p99_us"] > 0 for r in a) else "bad")
mem = parts.get("memory", {}).get("results", [])
print("memory-handouts", "ok" if mem and all(r["handed_out"] == r["lifecycles"] for r in mem) and mem[-1]["lifecycles"] == 300 else "bad")
mig = parts.get("migration", {})
t = {x["name"]: x for x in mig.get("targets", [])}
intact = [x for n, x in t.items() if "memory intact" in n]
print("migration-intact", "ok" if intact and all(x["met"] for x in intact) else "bad %r" % intact)
ev = parts.get("evacuate", {})
gs = (ev.get("results") or {}).get("guests", [])
runs = {(g["arm"], g["run"]) for g in gs}
print("evacuate-complete", "ok" if len(gs) == 4 and runs == {("plain", "1"), ("shim", "1")} and
      all(g["ok"] and g["memcheck"] == "ok" and g["level"] == 2 for g in gs) else "bad %r" % gs)
wall = {arm: (ev.get("summary", {}).get("2", {}).get(arm) or {}).get("wall_s", {}).get("n") for arm in ("plain", "shim")}
print("evacuate-wall", "ok" if wall == {"plain": 1, "shim": 1} else "bad %r" % wall)
for p in ("acquire", "migration", "evacuate", "memory"):
    ts = parts.get(p, {}).get("targets", [])
    print("targets-" + p, "ok" if ts and all({"name", "value", "target", "met"} <= set(x) for x in ts) else "bad")
PY
)
diag "$verdicts"
v() { grep -qx "$1 ok" <<<"$verdicts"; }
check "bench.json names the machine (kernel, cores, QEMU)" v machine
check "acquire: every method (syscall at knob 1, device, library via broker) at 1 and 4 clients" v acquire-complete
check "acquire: no acquisition failed" v acquire-errors
check "memory: one hand-out per grant lifecycle, all 300" v memory-handouts
check "migration: both arms completed with the guest's memory intact" v migration-intact
check "evacuate: two guests at once per arm, each migrated with its memory intact" v evacuate-complete
check "evacuate: the wall time of each evacuation is reported" v evacuate-wall
check "every part reports its targets (name, value, target, met)" \
    bash -c 'for p in acquire migration evacuate memory; do grep -qx "targets-$p ok" <<<"$1" || exit 1; done' _ "$verdicts"
tap_end

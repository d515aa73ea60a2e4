#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: 8 guests evacuated into one destination at once with postcopy; every device goes to its own domain's QEMU, no grant is left, every guest is intact.
#
# Two libvirt 9.0 hosts, QEMU 7.2, knob 0, uffd-shim on the destination.
# Eight fresh test guests (tests/guest, 128 MiB, 95 MiB dirtied all the
# time, each with its own copy of the image) start on the source, then
#   virsh migrate --live --unsafe --postcopy --postcopy-after-precopy \
#         --bandwidth 32 gN DEST --migrateuri tcp://127.0.0.1
# runs for all of them at once (precopy at 32 MiB/s cannot converge, so each
# one switches after its first pass). Every migration must complete in
# postcopy with the guest running on the destination and its RAM passing
# tests/guest/memcheck.py; in the broker's audit every `decision=grant`
# line naming a domain must carry the pid of that domain's QEMU (libvirt's
# pid file on the destination), each domain's QEMU must have been served,
# and every grant must have ended (`exhausted`) with none left.
#
# The boot-sector test guest, as in bench/evacuate.sh (docs/performance.md,
# "Evacuation", which gives the times).
# About 3 minutes on 2 cores (the eight TCG guests share them).
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib/common.sh"
. "$here/lib/hosts.sh"
. "$here/lib/shim.sh"

e2e_test_begin
t_start=$(date +%s)
N=${E2E_EVACUATE_GUESTS:-8}
host_up src && host_up dst || fail_rest "host_up failed"
e2e_guest_image "$E2E_BASE/images/guest.img" 2>"$E2E_BASE/guest-build.log" || fail_rest "guest image"
shim_install || fail_rest "meson install of uffd-shim failed"
shim_config "[grants]" "lifetime=600"
shim_start_broker dst || fail_rest "broker does not start in dst"
on_exit shim_stop_broker dst
shim_hook_install dst >"$E2E_BASE/hook-install.log" 2>&1 || fail_rest "hook install"

diag "setup (hosts, build, broker, hook): $(( $(date +%s) - t_start )) s"
t0=$(date +%s)
doms=()
for ((i = 1; i <= N; i++)); do doms+=("g$i"); done
for d in "${doms[@]}"; do
    cp --sparse=always "$E2E_BASE/images/guest.img" "$E2E_BASE/images/$d.img" &&
        chmod 0644 "$E2E_BASE/images/$d.img" &&
        host_start_domain src "$d" "$E2E_BASE/images/$d.img" || fail_rest "$d does not start on src"
done
for d in "${doms[@]}"; do
    for ((i = 0; i < 300; i++)); do
        grep -q "^P " "$(host_serial_log src "$d")" 2>/dev/null && break
        sleep 0.2
    done
done

diag "$N guests started: $(( $(date +%s) - t0 )) s"
t0=$(date +%s)
pids=()
for d in "${doms[@]}"; do
    (
        E2E_MIGRATE_TIMEOUT=300 migrate src dst "$d" --postcopy --postcopy-after-precopy --bandwidth 32
        printf '%s %s %s\n' "$E2E_MIGRATE_RC" "$E2E_MIGRATE_POSTCOPY" "$E2E_MIGRATE_SECONDS" >"$E2E_BASE/$d.rec"
        head -c 300 <<<"$E2E_MIGRATE_OUTPUT" >"$E2E_BASE/$d.out"
    ) &
    pids+=($!)
done
wait "${pids[@]}"
diag "$N migrations at once: the last ended after $(( $(date +%s) - t0 )) s (load $(cut -d' ' -f1 /proc/loadavg))"

# The guests are checked one at a time, the others paused meanwhile: eight
# TCG guests at once make each one's progress (what guest_ok waits for) slow.
for d in "${doms[@]}"; do host_virsh dst suspend "$d" >/dev/null 2>&1; done
moved_ok() { gone_from src "$1" && guest_ok dst "$1"; }
audit=$(shim_audit dst)
t0=$(date +%s)
qpids=()
for d in "${doms[@]}"; do
    host_virsh dst resume "$d" >/dev/null 2>&1
    read -r rc pc secs <"$E2E_BASE/$d.rec" 2>/dev/null || rc=x
    diag "$d: rc=$rc postcopy=${pc:-} ${secs:-}s $(cat "$E2E_BASE/$d.out" 2>/dev/null)"
    check "$d: its migration completed in postcopy" test "$rc ${pc:-}" = "0 1"
    check "$d: it runs on the destination, gone from the source, no DMA error" moved_ok "$d"
    check "$d: its memory is intact" memory_ok dst "$d"
    qpid=$(host_domain_pid dst "$d")
    qpids+=("$qpid")
    granted=$(grep "decision=grant .* domain=$d " <<<"$audit" | sed -E 's/.* pid=([0-9]+) .*/\1/' | sort -u | tr '\n' ' ')
    diag "$d: QEMU $qpid (pid file); devices handed to pid(s) $granted"
    check "$d: the broker served its QEMU (pid $qpid)" test "$granted" = "$qpid "
    host_virsh dst suspend "$d" >/dev/null 2>&1
done
diag "checks of the $N guests: $(( $(date +%s) - t0 )) s"
check "every device went to its own domain's QEMU: each decision=grant line names the pid of the named domain's QEMU" \
    python3 - "$audit" "${doms[@]}" "${qpids[@]}" <<'EOF'
import re, sys
audit, rest = sys.argv[1], sys.argv[2:]
n = len(rest) // 2
want = dict(zip(rest[:n], rest[n:]))
bad = []
for line in audit.splitlines():
    if not line.startswith("decision=grant "):
        continue
    pid = re.search(r" pid=(\d+) ", line).group(1)
    dom = re.search(r" domain=(\S+) ", line).group(1)
    if want.get(dom) != pid:
        bad.append(line)
for b in bad:
    print("# " + b)
sys.exit(1 if bad else 0)
EOF
check "the $N QEMUs are $N different processes" test "$(printf '%s\n' "${qpids[@]}" | sort -u | grep -c .)" = "$N"
check "no request was denied" bash -c '! grep -q "decision=deny" <<<"$1"' _ "$audit"
check "$N grants were made and $N ended at their switch (exhausted)" \
    test "$(grep -c "^grant-create .* result=ok" <<<"$audit") $(grep -c "^grant-end .* why=exhausted" <<<"$audit")" = "$N $N"
check "no grant is left" shim_no_grants dst
for d in "${doms[@]}"; do host_virsh dst destroy "$d" >/dev/null 2>&1; done
check "the knob reads 0 at the end" test "$(knob)" = 0
diag "total $(( $(date +%s) - t_start )) s"
tap_end

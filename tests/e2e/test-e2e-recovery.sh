#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: a postcopy migration paused (by the operator, or a network cut) and resumed with --postcopy-resume ends with uffd-shim at knob 0 as with the knob at 1.
#
# The recovery procedure, libvirt 9.0 + QEMU 7.2 (the source is SRC, the
# destination's URI DEST):
#
#   virsh migrate --live --postcopy ... VM DEST --migrateuri URI   # switched, in postcopy
#   virsh domjobabort --postcopy VM        # the operator pauses it, or the link fails:
#       that migrate returns "operation failed: job 'migration in' failed in
#       post-copy phase"; VM is "paused (post-copy failed)" on the source and
#       "running (post-copy failed)" on the destination, whose QEMU waits
#   virsh migrate --live --postcopy --postcopy-resume [--postcopy-bandwidth N] \
#       VM DEST --migrateuri URI [--listen-address ADDR]   # the same URI (and address)
#       -> completes; VM runs on the destination, gone from the source
#
# The resumed migration sends the rest of the guest's RAM at its own
# --postcopy-bandwidth, else at the paused migration's: a postcopy capped at
# 1 MiB/s takes about 100 s more for a 128 MiB guest, which is no hang.
# libvirt 9.0 with QEMU 7.2 may report a resume as failed that goes on and
# completes ("error: operation failed: job 'migration in' failed in
# post-copy phase", then "Unattended incoming migration of domain VM
# successfully finished" in the destination's libvirtd log): its Finish step
# on the destination can read QEMU's state before QEMU has left
# postcopy-paused (QEMU 9.1 added a postcopy-recover-setup state, which
# newer libvirt follows, for this step). Seen here in 2 of 12 resumes through the relay below (the knob-1 arm
# both times), none of 7 after `virsh domjobabort --postcopy`; the
# domain's state on both hosts tells. A resume counts as completed when it
# returned 0, or returned exactly that error and the domain then runs on the
# destination ("running (migrated)") and is gone from the source.
# A pause from the destination side is not possible through libvirt 9.0: the
# destination's Finish phase holds the domain's job for the whole postcopy
# ("cannot acquire state change lock (held by
# monitor=remoteDispatchDomainMigrateFinish3Params)").
#
# Same procedure, side by side, into two destinations: dstp, with no hook and
# no broker, migrated into with the knob at 1 (bench/lib/knob.sh: under the
# knob lock, the knob restored in a trap), and dst with uffd-shim, knob 0.
# Two ways to pause: `virsh domjobabort --postcopy` on the source, and a
# network cut: the migration runs through a TCP relay (lib/tcp-cut.py,
# --migrateuri tcp://127.0.0.1:PORT, the destination listening on
# 127.0.0.2) that is killed, then started again for the resume. Each run
# must switch, pause, resume and complete with the guest's memory intact
# (tests/guest/memcheck.py) and the guest running, and the two arms must
# agree on every step. With uffd-shim, recovery is none of its business:
# the grant ended at the switch (the preload's kept userfaultfd was taken;
# QEMU's recovery makes no new one), the broker is asked nothing from the
# pause to the end (it is even stopped during the network cut's pause),
# libvirt runs no hook on the destination for the resume (only a fresh
# incoming migration runs `migrate begin`), so the definition the hook made
# at the start is the one that completes.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib/common.sh"
. "$here/lib/hosts.sh"
. "$here/lib/shim.sh"
. "$here/../../bench/lib/knob.sh"

e2e_test_begin
require_cmd flock
t_start=$(date +%s)
host_up src && host_up dst && host_up dstp || fail_rest "host_up failed"
e2e_guest_image "$E2E_BASE/images/guest.img" 2>"$E2E_BASE/guest-build.log" || fail_rest "guest image"
IMG=$E2E_BASE/images/guest.img
shim_install || fail_rest "meson install of uffd-shim failed"
shim_config "[grants]" "lifetime=600"
shim_start_broker dst || fail_rest "broker does not start in dst"
on_exit shim_stop_broker dst
shim_hook_install dst >"$E2E_BASE/hook-install.log" 2>&1 || fail_rest "hook install"

# Precopy cannot converge at 8 MiB/s (the guest dirties 95 MiB all the
# time); it is switched at once, and the background page stream at 1 MiB/s
# keeps the postcopy going for a minute and more, so the pause finds it
# running. The resume lifts the cap.
PC=(--postcopy --bandwidth 8 --postcopy-bandwidth 1)
RESUME=(--postcopy --postcopy-resume --postcopy-bandwidth 1024)
RACE="operation failed: job 'migration in' failed in post-copy phase"
PROXY=
stop_proxy() { [ -z "$PROXY" ] || { kill -KILL "$PROXY" 2>/dev/null; wait "$PROXY" 2>/dev/null; PROXY=; }; }
on_exit stop_proxy
# start_proxy PORT: the relay 127.0.0.1:PORT -> 127.0.0.2:PORT (0: any free
# port); sets PROXY, PROXY_PORT.
start_proxy() {
    local i r=$E2E_BASE/proxy.ready
    rm -f "$r"
    python3 "$here/lib/tcp-cut.py" 127.0.0.1 "$1" 127.0.0.2 "$r" 2>>"$E2E_BASE/proxy.log" &
    for ((i = 0; i < 100; i++)); do [ -s "$r" ] && break; sleep 0.05; done
    read -r PROXY PROXY_PORT <"$r" 2>/dev/null
}
uffds_of() { find "/proc/$1/fd" -lname 'anon_inode:\[userfaultfd\]' 2>/dev/null | wc -l; }
state() { host_virsh "$1" domstate --reason "$2" 2>/dev/null | head -n 1; }
# The hook's part of the destination definition.
hook_part() { host_virsh "$1" dumpxml "$2" 2>/dev/null | grep -o "<qemu:env [^>]*>"; }
audit_of() { shim_audit dst | grep -c "domain=$1 "; }
# Hook runs libvirtd logged for the domain (util.hook debug, hosts.sh).
hook_calls() { grep -c "Calling hook .* id=$1 op=" "$(host_dir dst)/log/libvirtd.log"; }

# run ARM WAY: the whole procedure for one guest; every fact goes to
# $E2E_BASE/ARM-WAY.facts (as "key=value" lines) for the checks below, which
# run in this shell (the knob-1 arm runs in with_knob_one's subshell).
run() {
    local arm=$1 way=$2 dom=$1-$2 dst=dst extra=() f qpid i n_audit n_hook rc=0
    f=$E2E_BASE/$arm-$way.facts
    : >"$f"
    fact() { printf '%s=%s\n' "$1" "$2" >>"$f"; }
    [ "$arm" = plain ] && dst=dstp
    fact knob "$(knob)"
    guest_start "$dom" "$IMG" || { fact started no; return 1; }
    unset E2E_MIGRATE_URI
    if [ "$way" = cut ]; then
        start_proxy 0
        [ -n "$PROXY" ] || { fact proxy no; return 1; }
        export E2E_MIGRATE_URI=tcp://127.0.0.1:$PROXY_PORT
        extra=(--listen-address 127.0.0.2)
    fi
    migrate_bg src "$dst" "$dom" "${PC[@]}" "${extra[@]}"
    switch_to_postcopy "$dom"
    for ((i = 0; i < 100; i++)); do [ "$(state src "$dom")" = "paused (post-copy)" ] && break; sleep 0.1; done
    fact switched "$(state src "$dom") / $(state "$dst" "$dom")"
    qpid=$(host_domain_pid "$dst" "$dom")
    fact qemu_uffds_postcopy "$(uffds_of "$qpid")"
    [ "$arm" = shim ] && fact hook_xml_before "$(hook_part "$dst" "$dom")"
    sleep 1
    case $way in
        operator) host_virsh src domjobabort --postcopy "$dom" >/dev/null 2>&1 ;;
        cut) stop_proxy ;;
    esac
    migrate_bg_wait
    fact first_migrate "rc=$([ "$E2E_MIGRATE_RC" = 0 ] && echo 0 || echo non-zero) $(grep -o "failed in post-copy phase" <<<"$E2E_MIGRATE_OUTPUT")"
    for ((i = 0; i < 50; i++)); do
        [ "$(state "$dst" "$dom")" = "running (post-copy failed)" ] && break
        sleep 0.1
    done
    fact paused "$(state src "$dom") / $(state "$dst" "$dom")"
    fact qemu_alive_paused "$(kill -0 "$qpid" 2>/dev/null && echo yes || echo no)"
    fact qemu_uffds_paused "$(uffds_of "$qpid")"
    if [ "$arm" = shim ]; then
        fact grants_paused "$(shim_ctl dst grants 2>&1 | head -n 1)"
        n_audit=$(audit_of "$dom")
        n_hook=$(hook_calls "$dom")
        if [ "$way" = cut ]; then
            local bpid=$SHIM_BROKER_PID
            shim_stop_broker
            fact broker_stopped "$(! kill -0 "$bpid" 2>/dev/null && ! shim_ctl dst status >/dev/null 2>&1 && echo yes || echo no)"
        fi
    fi
    [ "$way" = cut ] && start_proxy "$PROXY_PORT"
    sleep 1
    migrate src "$dst" "$dom" "${RESUME[@]}" "${extra[@]}"
    diag "$arm $way: resume rc=$E2E_MIGRATE_RC in ${E2E_MIGRATE_SECONDS}s $(head -c 300 <<<"$E2E_MIGRATE_OUTPUT")"
    for ((i = 0; i < 100; i++)); do
        [ -z "$(state src "$dom")" ] && [ "$(state "$dst" "$dom")" = "running (migrated)" ] && break
        sleep 0.1
    done
    fact after "$(state src "$dom") / $(state "$dst" "$dom")"
    # libvirt 9.0's race (header): the resume reported failed, the migration
    # completed.
    if [ "$E2E_MIGRATE_RC" = 0 ]; then
        fact resume completed
    elif [ "$(grep -c . <<<"$E2E_MIGRATE_OUTPUT")" = 1 ] &&
        grep -qx "error: $RACE" <<<"$E2E_MIGRATE_OUTPUT" &&
        [ "$(fact_of "$arm" "$way" after)" = " / running (migrated)" ]; then
        fact resume completed
        fact resume_reported_failed yes
    else
        fact resume "failed (rc=$E2E_MIGRATE_RC)"
    fi
    fact same_qemu "$([ -n "$qpid" ] && [ "$(host_domain_pid "$dst" "$dom")" = "$qpid" ] && echo yes || echo no)"
    fact guest_ok "$(guest_ok "$dst" "$dom" >/dev/null 2>&1 && echo yes || echo no)"
    fact memory_ok "$(memory_ok "$dst" "$dom" >/dev/null 2>&1 && echo yes || echo no)"
    diag "$arm $way: $(tail -n 1 "$E2E_BASE/memcheck-$dom.log" 2>/dev/null)"
    if [ "$arm" = shim ]; then
        [ "$way" = cut ] && { shim_start_broker dst || rc=1; }
        fact audit_lines_since_pause "$(( $(audit_of "$dom") - n_audit ))"
        fact hook_runs_since_pause "$(( $(hook_calls "$dom") - n_hook ))"
        fact hook_xml_after "$(hook_part "$dst" "$dom")"
    fi
    stop_proxy
    unset E2E_MIGRATE_URI
    host_virsh "$dst" destroy "$dom" >/dev/null 2>&1
    host_virsh src destroy "$dom" >/dev/null 2>&1
    return $rc
}
fact_of() { sed -n "s/^$3=//p" "$E2E_BASE/$1-$2.facts" 2>/dev/null; }
# The steps both arms must agree on, with what each must be.
OUTCOME=(switched first_migrate paused qemu_alive_paused resume after same_qemu guest_ok memory_ok)
declare -A WANT=(
    [switched]="paused (post-copy) / running (post-copy)"
    [first_migrate]="rc=non-zero failed in post-copy phase"
    [paused]="paused (post-copy failed) / running (post-copy failed)"
    [qemu_alive_paused]=yes
    [resume]=completed
    [after]=" / running (migrated)"
    [same_qemu]=yes
    [guest_ok]=yes
    [memory_ok]=yes
)

for way in operator cut; do
    with_knob_one run plain "$way"
    diag "knob-1 arm ($way): $(tr '\n' ';' <"$E2E_BASE/plain-$way.facts")"
    check "$way: the knob-1 arm ran with the knob at 1" test "$(fact_of plain "$way" knob)" = 1
    check "$way: the knob is back to 0 after the knob-1 arm" test "$(knob)" = 0
    run shim "$way" || diag "shim $way: a step of the run failed"
    diag "uffd-shim arm ($way): $(tr '\n' ';' <"$E2E_BASE/shim-$way.facts")"
    check "$way: the uffd-shim arm ran with the knob at 0" test "$(fact_of shim "$way" knob)" = 0
    for k in "${OUTCOME[@]}"; do
        check "$way: knob 1 without the shim, $k: ${WANT[$k]}" test "$(fact_of plain "$way" "$k")" = "${WANT[$k]}"
        check "$way: uffd-shim at knob 0, $k: the same" test "$(fact_of shim "$way" "$k")" = "${WANT[$k]}"
    done
    check "$way: the destination QEMU held its userfaultfd in postcopy (both arms)" \
        test "$(fact_of plain "$way" qemu_uffds_postcopy) $(fact_of shim "$way" qemu_uffds_postcopy)" = "1 1"
    check "$way: and kept it while paused (both arms)" \
        test "$(fact_of plain "$way" qemu_uffds_paused) $(fact_of shim "$way" qemu_uffds_paused)" = "1 1"
    check "$way: with uffd-shim, the grant had ended at the switch (no active grant while paused)" \
        test "$(fact_of shim "$way" grants_paused)" = "no active grants"
    check "$way: it ended as the switch took the kept userfaultfd (exhausted)" \
        grep -q "grant-end domain=shim-$way .*why=exhausted" <(shim_audit dst)
    check "$way: nothing about the domain reached the broker from the pause to the end" \
        test "$(fact_of shim "$way" audit_lines_since_pause)" = 0
    [ "$way" = cut ] && check "$way: the broker was stopped from the pause until the migration completed" \
        test "$(fact_of shim "$way" broker_stopped)" = yes
    check "$way: libvirt ran no hook on the destination from the pause to the end" \
        test "$(fact_of shim "$way" hook_runs_since_pause)" = 0
    check "$way: one grant for the domain, made at the start" \
        test "$(shim_audit dst | grep -c "grant-create domain=shim-$way ")" = 1
    check "$way: the definition the hook made at the start is the one that completed" \
        bash -c '[ -n "$1" ] && [ "$1" = "$2" ] && grep -q LD_PRELOAD <<<"$1"' _ \
        "$(fact_of shim "$way" hook_xml_before)" "$(fact_of shim "$way" hook_xml_after)"
done
check "the broker handed out devices only to the migrating QEMUs (no denial)" \
    bash -c '! grep -q "decision=deny" <<<"$1"' _ "$(shim_audit dst)"
check "no grant remains" shim_no_grants dst
diag "resumes libvirt reported failed although they completed (its race): $(cat "$E2E_BASE"/*.facts | grep -c "^resume_reported_failed=yes") of 4"
check "the knob reads 0 at the end" test "$(knob)" = 0
diag "total $(( $(date +%s) - t_start )) s"
tap_end

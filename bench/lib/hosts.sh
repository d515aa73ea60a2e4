# SPDX-License-Identifier: GPL-2.0-or-later
# hosts.sh - bash library: the three libvirt hosts of bench/libvirt.sh and bench/evacuate.sh, and their destination check.
# shellcheck shell=bash
#
# Sourced after bench/lib/build.sh, bench/lib/knob.sh, tests/lib/common.sh,
# tests/e2e/lib/hosts.sh and tests/e2e/lib/shim.sh.
#
# bench_hosts_up        checks the environment (root, libvirt, QEMU,
#                       /dev/userfaultfd, the knob at 0), builds and
#                       installs this tree, empties the log directory $D,
#                       starts the hosts src, dstp (plain) and dsts (shim),
#                       builds the guest image ($IMG) and starts the broker
#                       and the hook in dsts. Sets DUMPS; exits the
#                       benchmark on any failure.
# memcheck_on HOST DOM  the guest runs on HOST without DMA error and a dump
#                       of its $MEM_MIB MiB of RAM passes
#                       tests/guest/memcheck.py (the check of
#                       tests/e2e/test-e2e-postcopy.sh); prints "ok" or
#                       why not.

bench_hosts_up() {
    local why h
    [ "$(id -u)" = 0 ] || { bench_log "needs root"; exit 1; }
    why=$(e2e_missing_env)
    [ -z "$why" ] || { bench_log "cannot run: $why"; exit 1; }
    [ -c /dev/userfaultfd ] || { bench_log "needs /dev/userfaultfd (Linux >= 6.1)"; exit 1; }
    bench_knob_zero || exit 1
    bench_build && bench_install || exit 1

    mkdir -p "$D"
    rm -f "$D"/*
    on_exit e2e_cleanup
    e2e_init || exit 1
    DUMPS=$E2E_BASE/dumps
    mkdir -p "$DUMPS" && chmod 1777 "$DUMPS"

    bench_log "starting hosts src, dstp, dsts"
    for h in src dstp dsts; do
        host_up "$h" || { bench_log "host_up $h failed"; exit 1; }
    done
    e2e_guest_image "$E2E_BASE/images/guest.img" 2>"$D/guest-build.log" || exit 1
    IMG=$E2E_BASE/images/guest.img
    shim_install || { bench_log "no installed uffd-shim in $SHIM_PREFIX"; exit 1; }
    shim_config "[grants]" "lifetime=600"
    shim_start_broker dsts || { bench_log "the broker does not start in dsts"; exit 1; }
    on_exit shim_stop_broker
    shim_hook_install dsts >"$D/hook-install.log" 2>&1 ||
        { cat "$D/hook-install.log" >&2; exit 1; }
}

memcheck_on() {
    local dump=$DUMPS/$2.mem log rc
    log=$(host_serial_log "$1" "$2")
    guest_running "$1" "$2" || { echo "not running on $1"; return 1; }
    if grep -qE "^DMA-(ERR|BAD)" "$log"; then grep -E '^DMA-' "$log" | head -n 1; return 1; fi
    host_virsh "$1" suspend "$2" >/dev/null &&
        host_virsh "$1" qemu-monitor-command "$2" --hmp "pmemsave 0 $((MEM_MIB << 20)) \"$dump\"" >/dev/null &&
        python3 "$TESTS_DIR/guest/memcheck.py" "$dump" >"$D/$2.memcheck" 2>&1
    rc=$?
    rm -f "$dump"
    [ $rc = 0 ] && echo ok || { echo "memcheck: $(tail -n 1 "$D/$2.memcheck" 2>/dev/null)"; }
    return $rc
}

# SPDX-License-Identifier: GPL-2.0-or-later
# uffd-shim on an e2e host: install into a prefix, start the broker in a host, install the hook.
#
# Requires lib/hosts.sh (sourced first) and $E2E_BASE.
#   shim_install              build + `ninja install` into $SHIM_PREFIX (once); with
#                             SHIM_PREFIX set to an installed tree (/usr), use it
#   shim_config KEY=VAL...    write $SHIM_PREFIX/etc/uffd-shim/uffd-shim.conf
#   shim_start_broker HOST    start uffd-shimd inside HOST; sets SHIM_BROKER_PID
#   shim_stop_broker HOST     stop it (by pid)
#   shim_hook_install HOST    `uffd-shimctl hook install --reload` inside HOST
#   shim_ctl HOST ARGS...     uffd-shimctl inside HOST
#   shim_audit HOST           the broker's audit lines so far
#   shim_no_grants HOST       no active grant on HOST
#   shim_wait_grant HOST DOM  wait (bounded) until DOM has a grant on HOST
#   shim_wait_handouts HOST DOM N  ... until DOM's QEMU got N devices
# and the guest helpers shared by the e2e tests:
#   guest_start DOMAIN IMG    a fresh guest on "src", printing progress
#   guest_progress HOST DOM   progress lines in that host's serial log
#   guest_running HOST DOM    running on HOST and making progress
#   guest_ok HOST DOM         running, making progress, and no DMA error seen
#   memory_ok HOST DOM        pause it, dump its RAM to $DUMPS, memcheck every page
#   gone_from HOST DOM        HOST has no such domain
#   native_dst_xml DOM EMU FILE      src's migratable definition of DOM, emulator EMU
#   check_native_dst HOST DOM EMU UID  TAP checks: DOM's QEMU on HOST is the patched
#                             EMU, asked the broker itself, domain left untouched
#   native_before_switch HOST DOM    during a migration to a patched QEMU, once it
#                             made its switch-time userfaultfd: what it holds, hand-outs
#   check_native_switch HOST DOM UID  TAP checks: it kept that userfaultfd non-dumpable,
#                             the switch asked the broker nothing, all released after
#   migrate_bg SRC DST DOM ARGS...   `migrate` in the background; migrate_bg_wait
#                             then sets E2E_MIGRATE_RC/E2E_MIGRATE_POSTCOPY/E2E_MIGRATE_OUTPUT

SHIM_PREFIX=${SHIM_PREFIX:-}

# e2e_test_begin: the common start of an e2e test (tests/lib/common.sh
# sourced): skip without the environment, require knob 0, clean the hosts
# up at exit, make $E2E_BASE and a world-writable $DUMPS.
e2e_test_begin() {
    local why
    why=$(e2e_missing_env)
    [ -z "$why" ] || skip_all "$why"
    require_device
    require_cmd python3 meson ninja
    require_knob_zero
    on_exit e2e_cleanup
    e2e_init || { echo "1..1"; echo "not ok 1 - e2e_init"; exit 1; }
    DUMPS=$E2E_BASE/dumps
    mkdir -p "$DUMPS" && chmod 1777 "$DUMPS"
}

# fail_rest MESSAGE: a prerequisite failed; the rest of the test cannot run.
fail_rest() { not_ok "$1"; tap_end; }

shim_install() {
    # Already installed there (e.g. SHIM_PREFIX=/usr from the Debian package).
    if [ -n "$SHIM_PREFIX" ] && [ -x "$SHIM_PREFIX/sbin/uffd-shimd" ]; then
        SHIM_PRELOAD=$(find "$SHIM_PREFIX"/lib -path '*/uffd-shim/libuffd-shim-preload.so' 2>/dev/null | head -n 1)
        [ -r "$SHIM_PRELOAD" ]
        return
    fi
    SHIM_PREFIX=$E2E_BASE/prefix
    local b=$E2E_BASE/build
    meson setup "$b" "$E2E_REPO" --prefix="$SHIM_PREFIX" --libdir=lib --buildtype=debugoptimized \
        >"$E2E_BASE/shim-build.log" 2>&1 &&
        ninja -C "$b" >>"$E2E_BASE/shim-build.log" 2>&1 &&
        ninja -C "$b" install >>"$E2E_BASE/shim-build.log" 2>&1 || {
        tail -n 30 "$E2E_BASE/shim-build.log" >&2
        return 1
    }
    # QEMU (libvirt-qemu) must reach the preload library.
    chmod 0711 "$SHIM_PREFIX" "$SHIM_PREFIX/lib"
    SHIM_PRELOAD=$SHIM_PREFIX/lib/uffd-shim/libuffd-shim-preload.so
    [ -r "$SHIM_PRELOAD" ]
}

shim_config() {
    mkdir -p "$SHIM_PREFIX/etc/uffd-shim"
    printf '%s\n' "$@" >"$SHIM_PREFIX/etc/uffd-shim/uffd-shim.conf"
}

shim_start_broker() {
    local host=$1 i root
    root=$(host_root "$host") || return 1
    SHIM_BROKER_LOG=$E2E_BASE/broker-$host.log
    host_exec "$host" "$SHIM_PREFIX/sbin/uffd-shimd" >>"$SHIM_BROKER_LOG" 2>&1 &
    local starter=$! st
    for ((i = 0; i < 100; i++)); do
        # $! is the shell that runs host_exec; the broker's own pid is the
        # one it reports (what shim_stop_broker and a kill -KILL must hit).
        if [ -S "$root/run/uffd-shim/admin.sock" ] &&
            st=$(shim_ctl "$host" status 2>/dev/null) && [[ $st =~ \(pid\ ([0-9]+), ]]; then
            SHIM_BROKER_PID=${BASH_REMATCH[1]}
            return 0
        fi
        kill -0 "$starter" 2>/dev/null || break
        sleep 0.1
    done
    cat "$SHIM_BROKER_LOG" >&2
    return 1
}

shim_stop_broker() {
    [ -n "${SHIM_BROKER_PID:-}" ] || return 0
    kill -TERM "$SHIM_BROKER_PID" 2>/dev/null
    local i
    for ((i = 0; i < 50; i++)); do kill -0 "$SHIM_BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SHIM_BROKER_PID" 2>/dev/null
    SHIM_BROKER_PID=
    return 0
}

shim_ctl() {
    local host=$1
    shift
    host_exec "$host" "$SHIM_PREFIX/sbin/uffd-shimctl" "$@"
}

shim_hook_install() {
    shim_ctl "$1" hook install --reload --hooks-dir=/etc/libvirt/hooks \
        --libvirtd-pidfile=/run/libvirt/libvirtd.pid
}

shim_audit() {
    grep -h "audit: " "$E2E_BASE"/broker-"$1".log 2>/dev/null | sed 's/^.*audit: //'
}

# switch_to_postcopy DOMAIN: `virsh migrate-postcopy` on the source, retried
# until libvirt accepts it (it refuses before the migration job is running).
switch_to_postcopy() {
    local i
    for ((i = 0; i < 60; i++)); do
        host_virsh src migrate-postcopy "$1" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

shim_no_grants() { shim_ctl "$1" grants | grep -q "no active grants"; }

# shim_wait_handouts HOST DOM N: wait (bounded) until DOM's QEMU on HOST got
# N devices (QEMU 7.2 with the preload: 3 by ADVISE, the start of the stream).
shim_wait_handouts() {
    local i
    for ((i = 0; i < 150; i++)); do
        [ "$(shim_audit "$1" | grep -c "decision=grant reason=ok .*domain=$2 ")" -ge "$3" ] && return 0
        sleep 0.2
    done
    return 1
}

shim_wait_grant() {
    local i
    for ((i = 0; i < 150; i++)); do
        shim_ctl "$1" grants 2>/dev/null | grep -q "^$2 " && return 0
        sleep 0.2
    done
    return 1
}

guest_start() {
    host_start_domain src "$1" "$2" || return 1
    local i
    for ((i = 0; i < 100; i++)); do
        grep -q "^P " "$(host_serial_log src "$1")" 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}

guest_progress() {
    local n
    # grep -c prints 0 itself (and fails) when no line matches yet.
    n=$(grep -c "^P " "$(host_serial_log "$1" "$2")" 2>/dev/null)
    printf '%s\n' "${n:-0}"
}

guest_running() {
    [ "$(host_domstate "$1" "$2")" = running ] || return 1
    local n0 i
    n0=$(guest_progress "$1" "$2")
    for ((i = 0; i < 50; i++)); do
        [ "$(guest_progress "$1" "$2")" -gt $((n0 + 2)) ] && return 0
        sleep 0.2
    done
    return 1
}

# guest_ok HOST DOMAIN: the guest runs on HOST, makes progress, saw no DMA error.
guest_ok() {
    local log
    log=$(host_serial_log "$1" "$2")
    guest_running "$1" "$2" || { diag "$2 does not run or make progress on $1"; return 1; }
    if grep -qE "^DMA-(ERR|BAD)" "$log"; then diag "$(grep -E '^DMA-' "$log" | head -3)"; return 1; fi
    # The guest's cumulative error counter (e=...) travels with its RAM.
    tail -n 1 <(grep "^P " "$log") | grep -q "e=00000000$"
}

# memory_ok HOST DOMAIN: pause the guest, dump its RAM, check every page.
memory_ok() {
    local dump=$DUMPS/$2.mem rc
    host_virsh "$1" suspend "$2" >/dev/null &&
        host_virsh "$1" qemu-monitor-command "$2" --hmp "pmemsave 0 134217728 \"$dump\"" >/dev/null &&
        python3 "$TESTS_DIR/guest/memcheck.py" "$dump" >"$E2E_BASE/memcheck-$2.log" 2>&1
    rc=$?
    diag "memcheck $2: $(tail -n 1 "$E2E_BASE/memcheck-$2.log" 2>/dev/null)"
    rm -f "$dump"
    host_virsh "$1" resume "$2" >/dev/null 2>&1
    return $rc
}

gone_from() { [ -z "$(host_domstate "$1" "$2")" ]; }

# native_dst_xml DOMAIN EMULATOR FILE: the destination definition of DOMAIN
# (for virsh migrate --xml) with the natively patched EMULATOR.
native_dst_xml() {
    host_virsh src dumpxml --migratable "$1" |
        sed "s|<emulator>[^<]*</emulator>|<emulator>$2</emulator>|" >"$3"
}

# check_native_dst HOST DOMAIN EMULATOR QEMU_UID: after a migration to a
# natively patched QEMU, its process is that binary, has no preload, the
# hook left the definition alone, the domain is not tainted, and the
# broker's audit names the patched QEMU.
check_native_dst() {
    local qpid log exe
    qpid=$(host_domain_pid "$1" "$2")
    exe=$(readlink -f "$3")
    check "the destination QEMU is the patched binary" test "$(readlink "/proc/$qpid/exe")" = "$exe"
    check "no preload in its environment" bash -c '! tr "\0" "\n" <"/proc/$1/environ" | grep -q "^LD_PRELOAD="' _ "$qpid"
    check "the hook left its definition alone (no qemu:commandline)" \
        bash -c '! grep -q "qemu:commandline\|LD_PRELOAD" <<<"$1"' _ "$(host_virsh "$1" dumpxml "$2")"
    log=$(host_root "$1")/var/log/libvirt/qemu/$2.log
    check "the domain is not tainted (domain log)" bash -c '[ -f "$1" ] && ! grep -qi "tainted" "$1"' _ "$log"
    grep -i "taint" "$log" 2>/dev/null | sed 's/^/# /' | head -3
    check "the broker's audit line names the patched QEMU" \
        grep -q "decision=grant reason=ok pid=$qpid uid=$4 exe=$exe domain=$2 " <(shim_audit "$1")
}

# native_uffds PID: how many userfaultfds the process holds.
native_uffds() { find "/proc/$1/fd" -lname 'anon_inode:\[userfaultfd\]' 2>/dev/null | wc -l; }
# native_owner PID: the owner of /proc/PID/status, root (0) while the
# process is not dumpable, its euid otherwise.
native_owner() { stat -c %u "/proc/$1/status" 2>/dev/null; }
shim_handed_out() { shim_ctl "$1" status | sed -n 's/^handed out: *//p'; }
shim_grant_lines() { shim_audit "$1" | grep -c "decision=grant "; }

# native_before_switch HOST DOMAIN: during a background migration
# (migrate_bg ... --postcopy, switched by hand) into a natively patched
# QEMU on HOST, before the switch: waits (up to 60 s) for that QEMU's
# request with the LAST hint in the broker's audit (the series makes the
# switch-time userfaultfd at ADVISE) and for it to hold that userfaultfd,
# then notes NATIVE_PID, NATIVE_UFFDS, NATIVE_OWNER (native_owner),
# NATIVE_HANDED and NATIVE_GRANTS (the broker's hand-outs and grant lines
# so far). Call switch_to_postcopy after it whatever it returns.
native_before_switch() {
    local i
    NATIVE_PID= NATIVE_UFFDS= NATIVE_OWNER= NATIVE_HANDED= NATIVE_GRANTS=
    for ((i = 0; i < 300; i++)); do
        grep -q "decision=grant .* domain=$2 .*last=yes" <(shim_audit "$1") && break
        sleep 0.2
    done
    [ "$i" -lt 300 ] || return 1
    NATIVE_PID=$(host_domain_pid "$1" "$2") || return 1
    # The audit line comes just before QEMU makes the userfaultfd.
    for ((i = 0; i < 50; i++)); do
        [ "$(native_uffds "$NATIVE_PID")" = 1 ] && break
        sleep 0.1
    done
    NATIVE_UFFDS=$(native_uffds "$NATIVE_PID")
    NATIVE_OWNER=$(native_owner "$NATIVE_PID")
    NATIVE_HANDED=$(shim_handed_out "$1")
    NATIVE_GRANTS=$(shim_grant_lines "$1")
}

# check_native_switch HOST DOMAIN QEMU_UID: TAP checks after a migration
# into a natively patched QEMU switched by hand after native_before_switch:
# until the switch it kept its switch-time userfaultfd and was not
# dumpable, the switch asked the broker nothing, and afterwards it holds no
# userfaultfd and is dumpable again (libvirt starts QEMU dumpable), and the
# broker never refused it as dumpable or traced (a version 1 client is told
# peer-gone for both).
check_native_switch() {
    local qpid
    qpid=$(host_domain_pid "$1" "$2")
    diag "$2 before the switch: pid=$NATIVE_PID uffds=$NATIVE_UFFDS owner=$NATIVE_OWNER handed-out=$NATIVE_HANDED grant-lines=$NATIVE_GRANTS"
    check "before the switch the patched QEMU keeps the switch-time userfaultfd (made at ADVISE) and is not dumpable" \
        test "$NATIVE_UFFDS:$NATIVE_OWNER" = "1:0"
    check "the switch asked the broker nothing: hand-outs and grant lines unchanged since" \
        test "$NATIVE_HANDED:$NATIVE_GRANTS" = "$(shim_handed_out "$1"):$(shim_grant_lines "$1")"
    check "after the migration the patched QEMU holds no userfaultfd and is dumpable again" \
        test "$(native_uffds "$qpid"):$(native_owner "$qpid")" = "0:$3"
    check "the broker never refused it as dumpable, traced or gone" \
        bash -c '! grep -qE "decision=deny reason=(dumpable|traced|peer-gone) pid=$1 " <<<"$2"' _ "$qpid" "$(shim_audit "$1")"
}

migrate_bg() {
    _migrate_bg_result=$E2E_BASE/migrate-bg.$3.result
    rm -f "$_migrate_bg_result"
    (
        migrate "$@"
        echo "$E2E_MIGRATE_RC ${E2E_MIGRATE_POSTCOPY:-0}" >"$_migrate_bg_result"
        printf '%s\n' "$E2E_MIGRATE_OUTPUT" >>"$_migrate_bg_result"
    ) &
    _migrate_bg_pid=$!
}

migrate_bg_wait() {
    wait "$_migrate_bg_pid"
    read -r E2E_MIGRATE_RC E2E_MIGRATE_POSTCOPY <"$_migrate_bg_result" ||
        { E2E_MIGRATE_RC=1; E2E_MIGRATE_POSTCOPY=0; }
    E2E_MIGRATE_OUTPUT=$(tail -n +2 "$_migrate_bg_result" 2>/dev/null)
}

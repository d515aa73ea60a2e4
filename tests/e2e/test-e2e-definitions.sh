#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# End to end: where the preload the hook adds goes (persistent definitions, restarts, onward migration to a host without uffd-shim).
#
# Three libvirt 9.0 hosts, QEMU 7.2, knob 0: "src" and "far" without
# uffd-shim (on "far" even the preload library's path does not exist), "dst"
# with it ([grants] deny-domains=x-*). What libvirt does with the qemu:env the
# hook adds at migrate begin (docs/runbook.md, "The preload in migrated
# domains"):
#  - it stays in the live definition and travels with the next migration;
#    on "far" ld.so cannot load it, says so in the domain log, and QEMU runs;
#  - --persistent sends the persistent definition from the source in the
#    migration cookie, where the hook never sees it: no preload in it, and a
#    destroy + start runs without it;
#  - a host where the preload does not apply (here: a denied domain) takes
#    out the one a definition brings;
#  - what libvirt persists as it came in: the live definition of a transient
#    domain migrated on with --persistent, and an offline migration's
#    definition (the hook's output); both start, with or without the library.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../lib/common.sh"
. "$here/lib/hosts.sh"
. "$here/lib/shim.sh"

not() { ! "$@"; }

e2e_test_begin
host_up src && host_up dst && host_up far || fail_rest "host_up failed"
e2e_guest_image "$E2E_BASE/images/guest.img" 2>"$E2E_BASE/guest-build.log" || fail_rest "guest image"
img() { # img DOMAIN: a disk of its own (QEMU locks the image)
    cp --sparse=always "$E2E_BASE/images/guest.img" "$E2E_BASE/images/$1.img" &&
        printf '%s\n' "$E2E_BASE/images/$1.img"
}
shim_install || fail_rest "meson install of uffd-shim failed"
shim_config "[grants]" "lifetime=600" "deny-domains=x-*"
shim_start_broker dst || fail_rest "broker does not start in dst"
shim_hook_install dst >/dev/null 2>&1 || fail_rest "hook install"
# "far" has no uffd-shim: not even the files (the hosts share /tmp).
host_exec far mount -n -t tmpfs -o size=64k,mode=0755 e2e-no-shim "$SHIM_PREFIX" ||
    fail_rest "cannot hide $SHIM_PREFIX in far"
check "far: the preload library does not exist there" not host_exec far test -e "$SHIM_PRELOAD"

PC=(--postcopy --postcopy-after-precopy --bandwidth 32)
QEMU_NS=http://libvirt.org/schemas/domain/qemu/1.0
LDSO_ERROR="ERROR: ld.so: object '$SHIM_PRELOAD' from LD_PRELOAD cannot be preloaded (cannot open shared object file): ignored."
# preloads HOST DOMAIN [--inactive]: the LD_PRELOAD values of its definition.
preloads() {
    host_virsh "$1" dumpxml ${3:+"$3"} "$2" | grep -o "<qemu:env name='LD_PRELOAD' value='[^']*'/>" |
        sed "s/.*value='\([^']*\)'.*/\1/"
}
has_our_preload() { [ "$(preloads "$@")" = "$SHIM_PRELOAD" ]; }
no_preload() { ! host_virsh "$1" dumpxml ${3:+"$3"} "$2" | grep -q "LD_PRELOAD\|qemu:commandline"; }
# qemu_env HOST DOMAIN: LD_PRELOAD in the environment of its QEMU ("" if none).
qemu_env() {
    local pid
    pid=$(host_domain_pid "$1" "$2") || return 1
    tr '\0' '\n' <"/proc/$pid/environ" | sed -n 's/^LD_PRELOAD=//p'
}
qemu_maps_preload() {
    local pid
    pid=$(host_domain_pid "$1" "$2") && grep -q libuffd-shim-preload "/proc/$pid/maps"
}
domlog() { printf '%s/var/log/libvirt/qemu/%s.log\n' "$(host_root "$1")" "$2"; }
# last_start HOST DOMAIN: the domain log from its last start on HOST.
last_start() { awk '/: starting up /{ buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$(domlog "$1" "$2")"; }
# ldso_said HOST DOMAIN: ld.so's line about the missing preload is in the
# domain log since its last start.
ldso_said() {
    grep -qF "$LDSO_ERROR" <(last_start "$1" "$2") && return 0
    diag "$2 on $1, domain log since its last start:" "$(last_start "$1" "$2" | grep -v '^-\|^[A-Z_]*=' | tail -n 8)"
    return 1
}
# running_soon HOST DOMAIN: just started (the guest boots under TCG first):
# runs and makes progress within 30 s.
running_soon() {
    for _ in 1 2 3; do guest_running "$1" "$2" && return 0; done
    diag "$2 on $1: state '$(host_domstate "$1" "$2")', $(guest_progress "$1" "$2") progress lines"
    return 1
}
persistent() { host_virsh "$1" dominfo "$2" | grep -q "^Persistent: *yes"; }
restart() { host_virsh "$1" destroy "$2" >/dev/null && host_virsh "$1" start "$2" >/dev/null; }
# create_with_preload HOST DOMAIN: a transient domain whose definition has our
# qemu:env, like the live definition of one the hook served on migrate begin.
create_with_preload() {
    domain_xml "$2" "$(img "$2")" 128 |
        sed -e "0,/<domain /s|<domain |<domain xmlns:qemu='$QEMU_NS' |" \
            -e "s|</domain>|<qemu:commandline><qemu:env name='LD_PRELOAD' value='$SHIM_PRELOAD'/></qemu:commandline></domain>|" \
            >"$E2E_BASE/$2.xml" &&
        host_virsh "$1" create "$E2E_BASE/$2.xml" >/dev/null && guest_running "$1" "$2"
}
migrated() { # migrated WHAT [EXPECTED_POSTCOPY]: the last migrate succeeded
    diag "$1: rc=$E2E_MIGRATE_RC ${E2E_MIGRATE_SECONDS}s postcopy=$E2E_MIGRATE_POSTCOPY $(head -c 300 <<<"$E2E_MIGRATE_OUTPUT")"
    check "$1 succeeds${2:+ in postcopy}" test "$E2E_MIGRATE_RC ${2:-$E2E_MIGRATE_POSTCOPY}" = "0 $E2E_MIGRATE_POSTCOPY"
}

# --- 1. A transient domain: src -> dst, on to far, back to dst -------------
guest_start t1 "$(img t1)" || fail_rest "guest t1 does not start"
migrate src dst t1 "${PC[@]}"
migrated "t1 src -> dst" 1
check "t1 on dst: the live definition has the hook's LD_PRELOAD" has_our_preload dst t1
check "t1 on dst: its QEMU runs with it" test "$(qemu_env dst t1)" = "$SHIM_PRELOAD"
check "t1 on dst: transient, as it came" not persistent dst t1

migrate dst far t1
migrated "t1 dst -> far (no uffd-shim there; precopy)"
check "t1 on far: the guest runs, no DMA error" guest_ok far t1
check "t1 on far: libvirt sent the qemu:env on (live definition)" has_our_preload far t1
check "t1 on far: ld.so could not load it, said so in the domain log, and QEMU ran on" \
    ldso_said far t1
set_not_loaded() { [ "$(qemu_env "$1" "$2")" = "$SHIM_PRELOAD" ] && ! qemu_maps_preload "$1" "$2"; }
check "t1 on far: its QEMU has LD_PRELOAD set but no preload mapped" set_not_loaded far t1

migrate far dst t1 "${PC[@]}"
migrated "t1 far -> dst, back to the host with uffd-shim" 1
check "t1 on dst again: exactly one LD_PRELOAD entry, this host's" has_our_preload dst t1
check "t1 on dst again: the guest runs, no DMA error" guest_ok dst t1
host_virsh dst destroy t1 >/dev/null 2>&1
check "t1: destroyed on dst, the transient domain is gone" gone_from dst t1

# --- 2. A persistent domain: --persistent --undefinesource, destroy + start -
domain_xml p1 "$(img p1)" 128 >"$E2E_BASE/p1.xml"
host_virsh src define "$E2E_BASE/p1.xml" >/dev/null && host_virsh src start p1 >/dev/null &&
    guest_running src p1 || fail_rest "p1 does not start"
migrate src dst p1 "${PC[@]}" --persistent --undefinesource
migrated "p1 src -> dst --persistent --undefinesource" 1
check "p1: gone from src, definition included (--undefinesource)" gone_from src p1
check "p1 on dst: persistent" persistent dst p1
check "p1 on dst: the live definition has the hook's LD_PRELOAD" has_our_preload dst p1
check "p1 on dst: the persistent definition does not (it came from src's, in the cookie)" \
    no_preload dst p1 --inactive
check "p1 on dst: nor does its file in /etc/libvirt/qemu" \
    bash -c '[ -f "$1" ] && ! grep -q LD_PRELOAD "$1"' _ "$(host_root dst)/etc/libvirt/qemu/p1.xml"
restart dst p1
check "p1 destroyed and started on dst: it runs" running_soon dst p1
none_at_all() { no_preload "$1" "$2" && [ -z "$(qemu_env "$1" "$2")" ] && ! qemu_maps_preload "$1" "$2"; }
check "p1 after the restart: no LD_PRELOAD in its definition or its QEMU" none_at_all dst p1
check "p1 after the restart: not tainted custom-argv" not grep -q custom-argv <(last_start dst p1)
migrate dst far p1 --persistent --undefinesource
migrated "p1 dst -> far --persistent (precopy)"
check "p1 on far: no preload anywhere (its persistent definition was clean)" \
    eval 'no_preload far p1 && no_preload far p1 --inactive'
check "p1 on far: the guest runs" guest_running far p1

# --- 3. A domain the preload does not apply to on dst brings one -----------
create_with_preload src x-1 || fail_rest "x-1 does not start on src"
migrate src dst x-1
migrated "x-1 (denied on dst) src -> dst"
check "x-1 on dst: the hook took the LD_PRELOAD it brought out" no_preload dst x-1
check "x-1 on dst: its QEMU runs without it" none_at_all dst x-1
check "x-1 on dst: the guest runs" guest_running dst x-1
check "x-1: no grant was opened" bash -c '! grep -q "domain=x-1" <<<"$1"' _ "$(shim_audit dst)"
host_virsh dst destroy x-1 >/dev/null 2>&1

# --- 4. What libvirt persists as it came: documented, and harmless ---------
# A transient domain's persistent definition on its next destination is its
# live definition.
create_with_preload dst t2 || fail_rest "t2 does not start on dst"
migrate dst far t2 --persistent
migrated "t2 (transient, with the preload) dst -> far --persistent"
check "t2 on far: the persistent definition is the live one, with the LD_PRELOAD" \
    has_our_preload far t2 --inactive
restart far t2
check "t2 destroyed and started on far: it runs, ld.so's line in the log" \
    eval 'running_soon far t2 && ldso_said far t2'
# An offline migration persists the hook's output (the source sends no
# persistent definition then).
domain_xml o1 "$(img o1)" 128 >"$E2E_BASE/o1.xml"
host_virsh src define "$E2E_BASE/o1.xml" >/dev/null || fail_rest "cannot define o1"
out=$(LC_ALL=C virsh -q -c "$(host_uri src)" migrate --offline --persistent --undefinesource o1 "$(host_uri dst)" 2>&1)
rc=$?
diag "o1 offline: rc=$rc $out"
check "o1: the offline migration succeeds" test "$rc" = 0
check "o1 on dst: its persistent definition has the hook's LD_PRELOAD" has_our_preload dst o1 --inactive
host_virsh dst start o1 >/dev/null
check "o1 started on dst: it runs" running_soon dst o1
check "o1's QEMU has the preload loaded (idle: no migration, no grant)" qemu_maps_preload dst o1

# The hook cannot tell an offline migration from a live one: it opened a
# grant for o1 too, which no QEMU used; it ends with its lifetime.
grant_names() { shim_ctl dst grants | awk '$1 != "DOMAIN" && !/no active grants/ { print $1 }' | tr '\n' ' '; }
check "on dst the only grant left is o1's, unused, from its offline migration" \
    test "$(grant_names)" = "o1 "
check "the knob reads 0 at the end" test "$(knob)" = 0
tap_end

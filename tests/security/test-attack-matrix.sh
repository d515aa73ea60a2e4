#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Attack matrix against a private broker: one row per attack (expected vs observed), an honest request after each.
#
# Pid namespaces: SO_PEERCRED pids are translated into the *reader's* pid
# namespace, and libvirt's pid files hold pids of the namespace the launcher
# runs in. The recycled-pid case therefore runs a second private broker, the
# fake libvirt launcher and the attacker all inside one new pid namespace
# (`unshare --pid --fork --mount-proc`, this script re-executed with --pidns),
# where /proc/sys/kernel/ns_last_pid steers the next pid. Nothing else is
# written under /proc/sys; vm.unprivileged_userfaultfd is only read.
set -u
. "$(dirname "$0")/../lib/common.sh"

QEMU_UID=64055
OTHER_UID=12345
HELPER="$TESTS_DIR/security/attack-helper.py"
UUID1=6f1c2a9e-1111-4a7b-9c3d-0123456789ab
UUID2=6f1c2a9e-2222-4a7b-9c3d-0123456789ab
UUID3=6f1c2a9e-3333-4a7b-9c3d-0123456789ab

reason_of() { sed -n 's/.*reason \([0-9]*\):.*/\1/p' <<<"$1" | head -n 1; }
served() { grep -q "kernel-fault: resolved" <<<"$1"; }

# ---- inside the new pid namespace (re-executed by the parent) ---------------
if [ "${1:-}" = --pidns ]; then
    WORK=$2
    BROKER_LOG=$WORK/broker.log
    BROKER_QEMU_UID=$QEMU_UID BROKER_EMULATORS="$WORK/probe" write_broker_config "$WORK/broker.conf"
    export UFFD_SHIM_SOCKET="$WORK/run/uffd.sock"
    start_broker "$WORK/broker.conf" || { echo "ROW|recycled pid: broker in the pid namespace|starts|does not start|0"; exit 1; }
    echo "INFO|broker pid in the namespace: $BROKER_PID (host view differs)"
    steer() { echo $(($1 - 1)) > /proc/sys/kernel/ns_last_pid; }

    # A: the granted domain's QEMU exits before using its grant; a QEMU-uid
    # process gets its pid. The stale pid file and status XML name it, but it
    # does not hold the pid file's lock.
    ctl grant rdom $UUID1 >/dev/null
    launched rdom $UUID1 $QEMU_UID -- true
    P=$(cat "$WORK/libvirt/rdom.pid")
    got=
    for _ in 1 2 3 4 5; do
        steer "$P"
        as_user $QEMU_UID sh -c 'echo "pid=$$"; exec "$0" library' "$WORK/probe" >"$WORK/out-a" 2>&1
        got=$(sed -n 's/^pid=//p' "$WORK/out-a")
        [ "$got" = "$P" ] && break
    done
    out=$(cat "$WORK/out-a")
    r=$(reason_of "$out")
    echo "INFO|A: original pid $P, attacker pid $got"
    pass=0; [ "$got" = "$P" ] && [ -n "$r" ] && [ "$r" != 0 ] && ! served "$out" && pass=1
    echo "ROW|recycled pid, lock not held (stale pid file + status XML name it)|deny|pid $got=$P? reason ${r:-none}|$pass"
    echo "INFO|grants after A: $(ctl grants | tr '\n' ' ')"

    # B: the granted QEMU used its grant and exited; a new lock-holding QEMU-uid
    # process (same domain name and UUID, same pid, another start time) asks.
    ctl grant rdom2 $UUID2 >/dev/null
    out=$(launched rdom2 $UUID2 $QEMU_UID -- "$WORK/probe" library)
    served "$out" && echo "INFO|B: the original QEMU was served" || echo "INFO|B: original not served: $out"
    P=$(cat "$WORK/libvirt/rdom2.pid")
    for _ in 1 2 3 4 5; do
        steer "$P"
        launched rdom2 $UUID2 $QEMU_UID -- sh -c 'echo "pid=$$"; exec "$0" library' "$WORK/probe" >"$WORK/out-b" 2>&1
        got=$(sed -n 's/^pid=//p' "$WORK/out-b")
        [ "$got" = "$P" ] && break
    done
    out=$(cat "$WORK/out-b")
    r=$(reason_of "$out")
    echo "INFO|B: original pid $P, new pid $got; $(grep -E 'grant-end domain=rdom2|decision=.*domain=rdom2|reason=.*pid='"$got" "$BROKER_LOG" | sed 's/.*audit: //' | tr '\n' ';')"
    pass=0; [ "$got" = "$P" ] && [ -n "$r" ] && [ "$r" != 0 ] && ! served "$out" && pass=1
    echo "ROW|recycled pid, lock held, grant used by the exited QEMU|deny|pid $got=$P? reason ${r:-none}|$pass"
    h=$(python3 "$HELPER" ask "$UFFD_SHIM_SOCKET")
    pass=0; grep -qE "^status [0-9]+ " <<<"$h" && pass=1
    echo "ROW|after recycled pid: honest request answered (namespace broker)|answered|$h|$pass"
    exit 0
fi

require_root
require_device
require_cmd python3 setpriv unshare timeout
require_knob_zero
require_built UFFD_SHIM_HOOK
make_workdir
install -m 0755 "$UFFD_PROBE" "$WORK/probe"
install -m 0644 "$HELPER" "$WORK/attack-helper.py"   # readable by the unprivileged uids
HELPER=$WORK/attack-helper.py
mkdir -m 1777 "$WORK/chan"                           # where the other uid listens
# The interpreter itself (not a wrapper such as a pyenv shim), readable by every uid.
PY=$(readlink -f /usr/bin/python3)
[ -x "$PY" ] || skip_all "needs /usr/bin/python3"
BROKER_TIMEOUT_MS=1000 BROKER_QEMU_UID=$QEMU_UID BROKER_EMULATORS="$WORK/probe;$PY" \
    write_broker_config "$WORK/broker.conf"
export UFFD_SHIM_SOCKET="$WORK/run/uffd.sock"
SOCK=$UFFD_SHIM_SOCKET
start_broker "$WORK/broker.conf" || { not_ok "broker starts"; tap_end; }
diag "emulators of the private broker: probe and $PY (the socket-passing QEMU is a python process)"

ROWS=()
T0=$(date +%s.%N)
t_case=$T0
# row CASE EXPECTED OBSERVED PASS(0/1)
row() {
    local now dt
    now=$(date +%s.%N)
    dt=$(awk -v a="$t_case" -v b="$now" 'BEGIN { printf "%.2f", b - a }')
    t_case=$now
    ROWS+=("$1 | $2 | $3 | ${dt}s")
    if [ "$4" = 1 ]; then ok "$1: $2 (observed: $3)"; else not_ok "$1: $2 (observed: $3)"; fi
}
honest_after() {
    local h
    h=$(python3 "$HELPER" ask "$SOCK" 2>&1)
    if grep -qE "^status [0-9]+ " <<<"$h"; then ok "after '$1': an honest request is answered ($h)"
    else not_ok "after '$1': an honest request is answered ($h)"; fi
    kill -0 "$BROKER_PID" 2>/dev/null || { not_ok "broker still alive after '$1'"; tap_end; }
}
deny_row() { # CASE EXPECTED-REASON OUTPUT
    local r
    r=$(reason_of "$3")
    local pass=0
    [ "$r" = "$2" ] && ! served "$3" && pass=1
    row "$1" "deny reason $2" "reason ${r:-none}$(served "$3" && echo ', SERVED')" $pass
}

# ---- identity -----------------------------------------------------------------
ctl grant dom1 $UUID1 >/dev/null
out=$(launched dom1 $UUID1 $OTHER_UID -- "$WORK/probe" library)
deny_row "process of another uid (pid file + lock + XML of a granted domain)" 3 "$out"
honest_after "another uid"
out=$(as_user $QEMU_UID "$WORK/probe" library)
deny_row "QEMU uid, no grant and no libvirt record" 5 "$out"
honest_after "QEMU uid without grant"
out=$(launched nogrant $UUID3 $QEMU_UID -- "$WORK/probe" library)
deny_row "QEMU uid, domain launched by libvirt but not granted" 5 "$out"
honest_after "domain without grant"

# ---- grant lifecycle -----------------------------------------------------------
ctl grant exp $UUID2 --lifetime 1 >/dev/null
sleep 2.2
deny_row "granted QEMU after the grant expired" 6 "$(launched exp $UUID2 $QEMU_UID -- "$WORK/probe" library)"
honest_after "expired"
ctl grant used $UUID2 --uses 1 >/dev/null
first=$(launched used $UUID2 $QEMU_UID -- "$WORK/probe" library)
served "$first" || diag "the first use was not served: $first"
deny_row "granted QEMU after the grant was used up" 7 "$(launched used $UUID2 $QEMU_UID -- "$WORK/probe" library)"
honest_after "exhausted"
ctl grant rev $UUID2 >/dev/null
ctl revoke rev >/dev/null
deny_row "granted QEMU after the grant was revoked" 8 "$(launched rev $UUID2 $QEMU_UID -- "$WORK/probe" library)"
honest_after "revoked"

# ---- recycled pid (own pid namespace, own broker) -------------------------------
mkdir -p "$WORK/ns"
chmod 0755 "$WORK/ns"
install -m 0755 "$UFFD_PROBE" "$WORK/ns/probe"
nsout=$(timeout 120 unshare --pid --fork --mount-proc bash "$0" --pidns "$WORK/ns" 2>&1)
diag "pid namespace run:" "$(grep -v '^ROW|' <<<"$nsout" | sed 's/^INFO|//')"
nrows=0
while IFS='|' read -r tag c e o p; do
    [ "$tag" = ROW ] || continue
    nrows=$((nrows + 1))
    row "$c" "$e" "$o" "$p"
done <<<"$nsout"
[ "$nrows" -ge 3 ] || row "recycled pid (pid namespace)" "3 rows" "$nrows rows" 0
honest_after "recycled pid"

# ---- the granted QEMU passes its connected socket to another uid --------------
run_pass() { # DOMAIN UUID [--exit-first]
    local ch=$WORK/chan/pass-$1.sock other_out opt=${3:-}
    rm -f "$ch"
    as_user $OTHER_UID "$PY" "$HELPER" pass-other "$ch" ${opt:+--after-exit} >"$WORK/pass-$1.out" 2>&1 &
    local opid=$!
    for _ in $(seq 50); do [ -S "$ch" ] && break; sleep 0.1; done
    ctl grant "$1" "$2" >/dev/null
    launched "$1" "$2" $QEMU_UID -- "$PY" "$HELPER" pass-qemu "$SOCK" "$ch" $opt >"$WORK/pass-q-$1.out" 2>&1
    wait "$opid"
    cat "$WORK/pass-$1.out"
}
out=$(run_pass pass1 $UUID1)
st=$(sed -n 's/^status \([0-9]*\) .*/\1/p' <<<"$out")
limitation=0
grep -q "can pass the device (or its connected socket) to another" "$TESTS_DIR/../docs/design.md" ||
    grep -qz "can pass the device (or its connected socket) to another" <(tr '\n' ' ' <"$TESTS_DIR/../docs/design.md") &&
    limitation=1
diag "socket passing, connector alive: $out" "audit: $(grep 'domain=pass1' "$BROKER_LOG" | sed 's/.*audit: //')"
if grep -q "fd=device" <<<"$out"; then
    row "granted QEMU passes its connected socket to another uid (connector alive)" \
        "documented limitation (design.md threat model)" \
        "status $st, device delivered to uid $OTHER_UID, $(grep -o 'uffd-created\|ioctl-[^ ]*' <<<"$out")" $limitation
else
    row "granted QEMU passes its connected socket to another uid (connector alive)" \
        "deny or documented limitation" "status ${st:-none}, no device in the other process" \
        "$([ -n "$st" ] && [ "$st" != 0 ] && echo 1 || echo 0)"
fi
honest_after "socket passing (alive)"
out=$(run_pass pass2 $UUID2 --exit-first)
st=$(sed -n 's/^status \([0-9]*\) .*/\1/p' <<<"$out")
diag "socket passing, connector exited first: $out"
pass=0; [ -n "$st" ] && [ "$st" != 0 ] && ! grep -q "fd=device" <<<"$out" && pass=1
row "passed socket used after the connecting QEMU exited" "deny (peer-gone 11 or not-granted)" "status ${st:-none}, $(grep -o 'fd=[a-z]*' <<<"$out")" $pass
honest_after "socket passing (exited)"

# ---- run and state directories --------------------------------------------------
perm_case() { # NAME SETUP-FUNCTION
    local d=$WORK/perm-$1 rc t0 t1
    rm -rf "$d"; mkdir -p "$d/real-run" "$d/real-state" "$d/libvirt"
    chmod 0755 "$d" "$d/real-run" "$d/real-state" "$d/libvirt"
    ln -s real-run "$d/run"; ln -s real-state "$d/state"
    RUN=$d/real-run STATE=$d/real-state
    "$2" "$d"
    printf '%s\n' "[broker]" "socket=$RUN/uffd.sock" "admin-socket=$RUN/admin.sock" "state-dir=$STATE" \
        "[qemu]" "user=$QEMU_UID" "libvirt-run-dir=$d/libvirt" "emulators=$WORK/probe" >"$d/conf"
    t0=$(date +%s.%N)
    timeout 3 "$UFFD_SHIMD" --config "$d/conf" >"$d/log" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    local pass=0 obs
    if [ $rc = 124 ]; then obs="started (still running after 3 s)"
    else obs="exit $rc in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')s: $(tail -n 1 "$d/log" | cut -c1-140)"
        [ $rc != 0 ] && pass=1
    fi
    row "$3" "refuses to start" "$obs" $pass
}
run_symlink() { RUN=$1/run; }
run_loose() { chmod 0777 "$RUN"; }
run_group() { chmod 0775 "$RUN"; }
state_symlink() { STATE=$1/state; }
state_loose() { chmod 0777 "$STATE"; }
state_foreign() { chown $OTHER_UID "$STATE"; }
perm_case a run_symlink "socket directory is a symlink"
perm_case b run_loose "socket directory mode 0777"
perm_case c run_group "socket directory mode 0775"
perm_case d state_symlink "state directory is a symlink"
perm_case e state_loose "state directory mode 0777"
perm_case f state_foreign "state directory owned by another uid"
honest_after "directory permissions"

# ---- hostile messages (hostile-clients.py) ------------------------------------
hout=$(python3 "$TESTS_DIR/integration/hostile-clients.py" "$SOCK" "$BROKER_PID" --rounds 300 2>&1)
hrc=$?
nok=$(grep -c '^ok ' <<<"$hout"); nbad=$(grep -c '^not ok ' <<<"$hout")
[ "$nbad" = 0 ] || diag "$(grep '^not ok' <<<"$hout")"
for c in "short read" "wrong magic" "wrong version" "length field lies" "oversized message" "fd attached:" \
    "eight fds attached" "credentials attached" "non-zero reserved" "silent clients are dropped"; do
    l=$(grep -m1 -E "^(not )?ok [0-9]+ - $c" <<<"$hout" | sed 's/^[a-z ]*[0-9]* - //')
    pass=0; grep -qE "^ok [0-9]+ - $c" <<<"$hout" && pass=1
    row "hostile message: $c" "rejected and dropped" "${l:-missing}" $pass
done
row "hostile-clients.py as a whole (300 rounds, fd/RSS leak checks)" "all pass" "$nok ok, $nbad not ok, rc $hrc" \
    "$([ "$hrc" = 0 ] && [ "$nbad" = 0 ] && echo 1 || echo 0)"
honest_after "hostile messages"

# ---- 10,000 connections at once -------------------------------------------------
fout=$(timeout 120 python3 "$HELPER" flood "$SOCK" "$BROKER_PID" 10000 1024 2>&1)
frc=$?
row "10,000 concurrent connections (max-clients 1024)" "excess closed at once, fds back to baseline, honest served" "$fout" \
    "$([ $frc = 0 ] && echo 1 || echo 0)"
honest_after "10,000 connections"

# ---- slow client -------------------------------------------------------------------
sout=$(python3 "$HELPER" slow "$SOCK" 1000 2>&1)
src=$?
row "slow client sends nothing (client-timeout-ms 1000)" "dropped at the timeout, others served" "$sout" \
    "$([ $src = 0 ] && echo 1 || echo 0)"
honest_after "slow client"

# ---- the hook fed hostile domain XML ---------------------------------------------
BROKER_QEMU_UID=$QEMU_UID write_broker_config "$WORK/hook.conf" "[hook]" "preload=$UFFD_SHIM_PRELOAD"
x=$WORK/xml
mkdir -p "$x"
python3 - "$x" <<'EOF'
import sys
d = sys.argv[1]
head = "<domain type='qemu'><name>vm1</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"
with open(d + "/huge.xml", "w") as f:
    f.write(head + "<description>")
    for _ in range(64):
        f.write("A" * (1 << 20))
    f.write("</description><devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>\n")
open(d + "/malformed.xml", "w").write(head + "<devices><emulator>/usr/bin/q")
ents = ['<!ENTITY lol "lol">'] + ['<!ENTITY lol%d "%s">' % (i, ("&lol%s;" % ("" if i == 1 else i - 1)) * 10) for i in range(1, 10)]
open(d + "/laughs.xml", "w").write("<?xml version='1.0'?>\n<!DOCTYPE domain [\n%s\n]>\n%s<description>&lol9;</description></domain>\n" % ("\n".join(ents), head))
open(d + "/xxe.xml", "w").write("<!DOCTYPE domain [<!ENTITY xxe SYSTEM 'file:///etc/shadow'>]>\n%s<description>&xxe;</description></domain>\n" % head)
open(d + "/deep.xml", "w").write(head + "<a>" * 200000 + "</a>" * 200000 + "</domain>\n")
open(d + "/nul.xml", "wb").write((head + "<description>\0\xff\xfe</description></domain>").encode("latin-1"))
EOF
for c in huge malformed laughs xxe deep nul; do
    t0=$(date +%s.%N)
    timeout 20 env UFFD_SHIM_CONFIG="$WORK/hook.conf" "$UFFD_SHIM_HOOK" vm1 migrate begin - <"$x/$c.xml" >"$x/$c.out" 2>"$x/$c.err"
    rc=$?
    dt=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
    g=$(ctl grants | grep -c '^vm1 ')
    pass=0
    # Never a refusal (the migration may need no userfaultfd), never a grant.
    [ $rc = 0 ] && [ "${dt%%.*}" -lt 5 ] && [ "$g" = 0 ] && [ ! -s "$x/$c.out" ] &&
        grep -q "goes on without uffd-shim" "$x/$c.err" && pass=1
    row "hook, migrate begin, $c domain XML" "exit 0 < 5 s with a warning, no grant, no XML out" \
        "exit $rc in ${dt}s, grants $g, stdout $(stat -c %s "$x/$c.out") B: $(head -c 100 "$x/$c.err" | tr '\n' ' ')" $pass
    honest_after "hook $c"
done

check "the knob still reads 0" test "$(knob)" = 0
diag "" "ATTACK MATRIX (case | expected | observed | time)"
for r in "${ROWS[@]}"; do diag "$r"; done
diag "total $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
tap_end

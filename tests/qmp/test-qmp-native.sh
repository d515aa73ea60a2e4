#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A QEMU with the qemu-patches/ series, unprivileged and without the preload: it asks the broker itself; postcopy fails without a grant, works with one.
#
# Environment: UFFD_SHIM_NATIVE_QEMU = the patched qemu-system-x86_64
# (qemu-patches/build.sh SERIES OUTDIR installs OUTDIR/bin/qemu-system-x86_64).
# Unset: the test skips (fails under UFFD_SHIM_REQUIRE_ALL=1).
#
# The patched QEMU asks the broker at the socket compiled into it (the path
# after the "uffd-shim-native-broker-v1" marker in the binary, normally
# /run/uffd-shim/uffd.sock), and nothing on its command line or in its
# environment can change that. So the destination runs in a private mount
# namespace in which that path leads to this test's private broker; the
# host's /run is not touched.
#
# postcopy.py --hook runs probe.sh at the start, just before the switch and
# at the end of each migration: it records how many userfaultfds the
# destination QEMU holds, whether it is dumpable (the owner of
# /proc/PID/status: root when it is not) and the broker's hand-out count
# and audit lines. That shows the series' lifecycle: non-dumpable while it
# asks (else the broker refuses it), the switch-time userfaultfd made at
# ADVISE and kept (non-dumpable) until the switch, which asks the broker
# nothing, and afterwards no userfaultfd and dumpable again, also when the
# migration converges in precopy or is cancelled. About 2.5 minutes.
set -u
. "$(dirname "$0")/../lib/common.sh"

NATIVE=${UFFD_SHIM_NATIVE_QEMU:-}
[ -n "$NATIVE" ] || skip_all "UFFD_SHIM_NATIVE_QEMU is not set (build a patched QEMU with qemu-patches/build.sh)"
require_root
require_device
require_cmd python3 unshare setpriv mount as ld objcopy
require_knob_zero
if [ ! -f "$NATIVE" ] || [ ! -x "$NATIVE" ]; then
    echo "1..1"; echo "not ok 1 - UFFD_SHIM_NATIVE_QEMU=$NATIVE is not an executable file"; exit 1
fi

QEMU_UID=64055
MARKER=uffd-shim-native-broker-v1
make_workdir

# The socket the binary was built for.
SOCK=$(grep -aoE "$MARKER /[[:graph:]]+" "$NATIVE" | head -n 1 | cut -d' ' -f2)
if [ -z "$SOCK" ]; then
    echo "1..1"; echo "not ok 1 - $NATIVE carries no '$MARKER <socket>' marker: not built with the qemu-patches/ series and --uffd-broker"; exit 1
fi

# QEMU runs as $QEMU_UID: use the binary in place if that user can run it
# (the audit then shows its real path), else a copy in the work directory.
QEMU=$(readlink -f "$NATIVE")
if ! setpriv --reuid="$QEMU_UID" --regid="$QEMU_UID" --clear-groups test -x "$QEMU"; then
    install -m 0755 "$QEMU" "$WORK/qemu-system-x86_64"
    QEMU=$WORK/qemu-system-x86_64
    diag "user $QEMU_UID cannot run $NATIVE: using a copy, $QEMU"
fi

# Firmware: QEMU looks for it relative to its binary; qemu-patches/build.sh
# puts symlinks to the distribution's firmware directories next to it. A
# binary without them (or the copy above) gets -L.
FW_OPTS=()
if ! "$QEMU" -L help 2>/dev/null | while read -r d; do [ -f "$d/bios-256k.bin" ] && echo y; done |
        grep -q y; then
    for d in /usr/share/seabios /usr/share/qemu; do
        [ -f "$d/bios-256k.bin" ] && { FW_OPTS=(--src-extra="-L $d" --dst-extra="-L $d"); break; }
    done
    diag "firmware: $QEMU does not find bios-256k.bin by itself, passing ${FW_OPTS[*]:-nothing}"
fi

"$TESTS_DIR/guest/build-guest.sh" "$WORK/guest.img" >"$WORK/build-guest.log" 2>&1 ||
    { echo "1..1"; echo "not ok 1 - build the test guest"; cat "$WORK/build-guest.log"; exit 1; }
install -m 0755 "$UFFD_FORCE_UMO" "$WORK/force-umo.so"
BROKER_QEMU_UID=$QEMU_UID BROKER_EMULATORS="$QEMU" write_broker_config "$WORK/broker.conf"
start_broker "$WORK/broker.conf" || { echo "1..1"; echo "not ok 1 - broker starts"; exit 1; }

# in-ns.sh SOCKET TARGET CMD...: run in a new mount namespace (unshare);
# make SOCKET a symlink to TARGET there, on a private tmpfs, then exec CMD.
cat > "$WORK/in-ns.sh" <<'EOF'
#!/bin/bash
set -eu
sock=$1 target=$2
shift 2
dir=$(dirname "$sock")
if [ -d "$dir" ]; then
    mount -t tmpfs -o mode=0755,size=64k uffd-shim-test "$dir"
else
    mount -t tmpfs -o mode=0755,size=64k uffd-shim-test "$(dirname "$dir")"
    mkdir -m 0755 "$dir"
fi
ln -s "$target" "$sock"
exec "$@"
EOF
chmod 0755 "$WORK/in-ns.sh"

UUID=6f1d2b9e-3c47-4a8e-9d05-2e7b8c4a1f63
NS="unshare --mount --propagation private -- $WORK/in-ns.sh $SOCK $WORK/run/uffd.sock"
LAUNCH="python3 $TESTS_DIR/integration/fake-libvirt-launch.py --run-dir $WORK/libvirt --name qmp-native --uuid $UUID --uid $QEMU_UID --"

# The QEMU's own words for the refusal: on stderr (7.2) or in the QMP error (>= 8.1).
qemu_says_refused() {
    grep -qF "uffd-shim broker at $SOCK refused: " "$WORK/nogrant/dst/qemu.log" "$WORK/nogrant.json"
}

# probe.sh RUN PHASE (postcopy.py --hook): writes $WORK/RUN.PHASE.
cat > "$WORK/probe.sh" <<EOF
#!/bin/bash
pid=\$POSTCOPY_DST_PID
{
    if [ -r /proc/\$pid/stat ] && [ "\$(sed 's/^.*) //' /proc/\$pid/stat | cut -d' ' -f1)" != Z ]; then
        echo "alive=1"
        echo "uffds=\$(find /proc/\$pid/fd -lname 'anon_inode:\[userfaultfd\]' | wc -l)"
        echo "owner=\$(stat -c %u /proc/\$pid/status)"
    else
        echo "alive=0"
    fi
    echo "handed_out=\$("$UFFD_SHIMCTL" --config "$BROKER_CONFIG" status | sed -n 's/^handed out: *//p')"
    echo "grants=\$(grep -c 'audit: decision=grant ' "$BROKER_LOG")"
    echo "last=\$(grep -c 'audit: decision=grant .* last=yes' "$BROKER_LOG")"
} >"$WORK/\$1.\$2"
EOF
chmod 0755 "$WORK/probe.sh"
# probe RUN PHASE KEY: a value probe.sh recorded.
probe() { sed -n "s/^$3=//p" "$WORK/$1.$2" 2>/dev/null; }
probe_diag() {
    local p
    for p in start switch end; do
        [ -f "$WORK/$1.$p" ] && diag "$1 $p: $(tr '\n' ' ' <"$WORK/$1.$p")"
    done
}
# kept_at_switch RUN: just before the switch, QEMU holds one userfaultfd
# (the switch-time one, made at ADVISE) and is not dumpable.
kept_at_switch() { [ "$(probe "$1" switch uffds)" = 1 ] && [ "$(probe "$1" switch owner)" = 0 ]; }
# switch_asked_nothing RUN: from just before the switch to the end the
# broker handed out nothing and logged no grant, and the LAST request had
# been served before the switch.
switch_asked_nothing() {
    [ -n "$(probe "$1" switch handed_out)" ] &&
        [ "$(probe "$1" switch handed_out)" = "$(probe "$1" end handed_out)" ] &&
        [ "$(probe "$1" switch grants)" = "$(probe "$1" end grants)" ] &&
        [ "$(probe "$1" switch last)" -ge 1 ]
}
# released_at_end RUN [exit-ok]: at the end QEMU holds no userfaultfd and
# is as dumpable as at the start (or, with exit-ok, has exited).
released_at_end() {
    if [ "$(probe "$1" end alive)" = 0 ]; then
        [ "${2:-}" = exit-ok ]
        return
    fi
    [ "$(probe "$1" end uffds)" = 0 ] && [ -n "$(probe "$1" start owner)" ] &&
        [ "$(probe "$1" end owner)" = "$(probe "$1" start owner)" ]
}
# never_refused_dumpable: the broker never saw the patched QEMU dumpable or traced.
never_refused_dumpable() {
    ! grep -qE "decision=deny reason=(dumpable|traced|peer-gone) .*exe=$QEMU " <(audit)
}

tap_plan 21

check "the binary carries the marker $MARKER and names a socket ($SOCK)" \
    grep -qaF "$MARKER $SOCK" "$QEMU"
check "it is a distinct binary, not the distribution's QEMU" \
    test "$QEMU" != "$(readlink -f "$(command -v qemu-system-x86_64 2>/dev/null || echo /nonexistent)")"
check "no grant, no preload: QEMU reports 'Postcopy is not supported'" \
    run_migration nogrant "$NS $LAUNCH" --expect-unsupported
check "no grant: the broker logged the denial of the patched QEMU" \
    grep -q "decision=deny reason=not-granted pid=[0-9]* uid=$QEMU_UID exe=$QEMU" <(audit)
check "no grant: QEMU reported the broker's refusal and its reason" qemu_says_refused

# The grant comes from the libvirt hook, as on a real destination: it must
# see the marker in the patched binary, open the grant and leave the domain
# XML alone (no output: no qemu:env, no preload, no taint).
hook_opens_grant() {
    local out
    out=$(printf "<domain type='qemu'><name>qmp-native</name><uuid>%s</uuid><memory unit='KiB'>131072</memory><os><type arch='x86_64' machine='pc'>hvm</type></os><devices><emulator>%s</emulator></devices></domain>\n" \
              "$UUID" "$QEMU" | UFFD_SHIM_CONFIG="$BROKER_CONFIG" "$UFFD_SHIM_HOOK" qmp-native migrate begin - 2>"$WORK/hook.err") ||
        { sed 's/^/#   hook: /' "$WORK/hook.err"; return 1; }
    [ -z "$out" ] || { diag "the hook printed XML (it took the QEMU for one without native support):" "$out"; return 1; }
    grep -q "qmp-native" <(ctl grants)
}
if [ -n "${UFFD_SHIM_HOOK:-}" ] && [ -x "$UFFD_SHIM_HOOK" ]; then
    check "the libvirt hook recognises the patched QEMU (marker): grant opened, domain XML unchanged" \
        hook_opens_grant
else
    ok "# SKIP UFFD_SHIM_HOOK is not set: grant opened with uffd-shimctl"
fi
grep -q "qmp-native" <(ctl grants) || ctl grant qmp-native $UUID >/dev/null
check "with a grant, no preload: postcopy completes under the seccomp sandbox, guest memory intact, DMA into missing pages served" \
    run_migration granted "$NS $LAUNCH" --hook "$WORK/probe.sh granted"
probe_diag granted
check "the broker audited the hand-outs to the patched QEMU" \
    grep -q "decision=grant reason=ok pid=[0-9]* uid=$QEMU_UID exe=$QEMU domain=qmp-native uuid=$UUID" <(audit)
check "QEMU was not dumpable when it asked: never refused as dumpable, traced or gone" \
    never_refused_dumpable
n=$(audit | grep -c "decision=grant reason=ok .*domain=qmp-native")
diag "hand-outs for one postcopy migration: $n"
check "before the switch QEMU keeps the switch-time userfaultfd made at ADVISE, and is not dumpable" \
    kept_at_switch granted
check "the switch asked the broker nothing: no hand-out, no audit line, the LAST one came before" \
    switch_asked_nothing granted
check "after the migration QEMU holds no userfaultfd and is dumpable again, as before it" \
    released_at_end granted
check "the request of the switch-time userfaultfd (LAST hint) ended the grant" \
    grep -q "grant-end domain=qmp-native uuid=$UUID why=exhausted" <(audit)
check "no grant remains after the migration" \
    grep -q "no active grants" <(ctl grants)

# The kept userfaultfd is closed, and QEMU dumpable again, when the
# migration never switches: it converges in precopy, or it is cancelled.
# QEMU >= 9.1 is told to stay after the failed migration (exit-on-error
# off); older ones exit, which releases everything too.
ctl grant qmp-native $UUID >/dev/null
check "postcopy enabled, precopy converges: the migration completes, guest memory intact" \
    run_migration precopy "$NS $LAUNCH" --expect-precopy --bandwidth 1000000000 \
    --downtime-limit 60000 --hook "$WORK/probe.sh precopy"
probe_diag precopy
check "converged in precopy: QEMU holds no userfaultfd and is dumpable again" \
    released_at_end precopy
keep_dst=()
exit_ok=exit-ok
if "$QEMU" --version | head -n 1 | grep -qE 'version ([1-9][0-9]|9\.[1-9])'; then
    keep_dst=(--dst-exit-on-error no)
    exit_ok=
fi
ctl grant qmp-native $UUID >/dev/null
check "cancelled after ADVISE: the destination's migration fails, the guest runs on at the source" \
    run_migration cancel "$NS $LAUNCH" --cancel --bandwidth 30000000 ${keep_dst[@]+"${keep_dst[@]}"} \
    --hook "$WORK/probe.sh cancel"
probe_diag cancel
check "cancelled: QEMU kept the switch-time userfaultfd until then" kept_at_switch cancel
check "cancelled: then QEMU holds no userfaultfd and is dumpable again${exit_ok:+ (or exited)}" \
    released_at_end cancel $exit_ok

# Negative control for this binary: force a user-mode-only userfaultfd (the
# patched QEMU falls back to the syscall, which force-umo rewrites). Postcopy
# itself works under TCG, but the guest's DMA into missing pages must fail.
check "negative control: a user-mode-only userfaultfd is detected (guest DMA error)" \
    run_migration umo "$NS $LAUNCH env LD_PRELOAD=$WORK/force-umo.so" --expect-dma-error
check "the knob still reads 0" test "$(knob)" = 0
tap_done

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

tap_plan 12

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
    run_migration granted "$NS $LAUNCH"
check "the broker audited the hand-outs to the patched QEMU" \
    grep -q "decision=grant reason=ok pid=[0-9]* uid=$QEMU_UID exe=$QEMU domain=qmp-native uuid=$UUID" <(audit)
n=$(audit | grep -c "decision=grant reason=ok .*domain=qmp-native")
diag "hand-outs for one postcopy migration: $n"
check "the incoming-postcopy userfaultfd ended the grant (LAST hint)" \
    grep -q "grant-end domain=qmp-native uuid=$UUID why=exhausted" <(audit)
check "no grant remains after the migration" \
    grep -q "no active grants" <(ctl grants)

# Negative control for this binary: force a user-mode-only userfaultfd (the
# patched QEMU falls back to the syscall, which force-umo rewrites). Postcopy
# itself works under TCG, but the guest's DMA into missing pages must fail.
check "negative control: a user-mode-only userfaultfd is detected (guest DMA error)" \
    run_migration umo "$NS $LAUNCH env LD_PRELOAD=$WORK/force-umo.so" --expect-dma-error
check "the knob still reads 0" test "$(knob)" = 0
tap_done

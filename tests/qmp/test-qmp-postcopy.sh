#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Stock QEMU 7.2 as an unprivileged user: postcopy over QMP fails without a grant, works with the preload and a grant.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_device
require_cmd python3 qemu-system-x86_64 as ld objcopy
require_knob_zero

QEMU=${UFFD_SHIM_TEST_QEMU:-$(command -v qemu-system-x86_64)}
QEMU_UID=64055
make_workdir
"$TESTS_DIR/guest/build-guest.sh" "$WORK/guest.img" >"$WORK/build-guest.log" 2>&1 ||
    { echo "1..1"; echo "not ok 1 - build the test guest"; cat "$WORK/build-guest.log"; exit 1; }
chown "$QEMU_UID:$QEMU_UID" "$WORK/guest.img"   # QEMU opens its disk read-write
install -m 0755 "$UFFD_SHIM_PRELOAD" "$WORK/preload.so"
install -m 0755 "$UFFD_FORCE_UMO" "$WORK/force-umo.so"
BROKER_QEMU_UID=$QEMU_UID BROKER_EMULATORS="$QEMU" write_broker_config "$WORK/broker.conf"
start_broker "$WORK/broker.conf" || { echo "1..1"; echo "not ok 1 - broker starts"; exit 1; }

UUID=2d7c4a10-5e0b-4f4e-8a51-9b0a7f3c1e22
LAUNCH="python3 $TESTS_DIR/integration/fake-libvirt-launch.py --run-dir $WORK/libvirt --name qmp-dst --uuid $UUID --uid $QEMU_UID --"
PRELOAD_ENV="env LD_PRELOAD=$WORK/preload.so UFFD_SHIM_SOCKET=$WORK/run/uffd.sock"




check "no grant: QEMU reports 'Postcopy is not supported'" \
    run_migration nogrant "$LAUNCH $PRELOAD_ENV" --expect-unsupported
check "no grant: the broker logged the denial" \
    grep -q "decision=deny reason=not-granted pid=[0-9]* uid=$QEMU_UID exe=$QEMU" <(audit)

ctl grant qmp-dst $UUID >/dev/null
check "with a grant: postcopy completes under the seccomp sandbox, guest memory intact, DMA into missing pages served" \
    run_migration granted "$LAUNCH $PRELOAD_ENV"
check "the broker audited the hand-outs to the destination QEMU" \
    grep -q "decision=grant reason=ok pid=[0-9]* uid=$QEMU_UID exe=$QEMU domain=qmp-dst uuid=$UUID" <(audit)
n=$(audit | grep -c "decision=grant reason=ok .*domain=qmp-dst")
diag "hand-outs for one postcopy migration: $n"
check "the incoming-postcopy uffd ended the grant (LAST hint)" \
    grep -q "grant-end domain=qmp-dst uuid=$UUID why=exhausted" <(audit)
check "no grant remains after the migration" \
    grep -q "no active grants" <(ctl grants)

# Negative control: a user-mode-only uffd on the destination. Postcopy itself
# works under TCG, but the kernel-mode faults (IDE DMA preadv into missing
# guest pages) fail, and the check must see it.
check "negative control: a user-mode-only uffd is detected (guest DMA error)" \
    run_migration umo "$LAUNCH env LD_PRELOAD=$WORK/force-umo.so" --expect-dma-error --switch-after-syncs 1
check "the knob still reads 0" test "$(knob)" = 0
tap_end

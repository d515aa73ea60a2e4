#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The [backend] user is let past accept() like the QEMU user (its requests reach the back-end decision); any other uid is still answered wrong-uid at once.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_device
require_cmd python3 setpriv
require_knob_zero

QEMU_UID=64055
BACKEND_UID=65534
OTHER_UID=65533
make_workdir
install -m 0755 "$UFFD_PROBE" "$WORK/probe"
# the back-end executable: a file of its own (another inode than the emulator)
install -m 0755 "$UFFD_PROBE" "$WORK/backend"
BROKER_QEMU_UID=$QEMU_UID BROKER_EMULATORS="$WORK/probe" write_broker_config "$WORK/broker.conf" \
    "[backend]" "user=$BACKEND_UID" "executables=$WORK/backend"
export UFFD_SHIM_SOCKET="$WORK/run/uffd.sock"
start_broker "$WORK/broker.conf" || { not_ok "broker starts"; tap_end; }

as() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --clear-groups "$@" 2>&1; }
# decision_of UID: the broker's audit line for the last request of UID.
decision_of() { grep "audit: decision=.* uid=$1 " "$BROKER_LOG" | tail -n 1; }

out=$(as $BACKEND_UID "$WORK/backend" library)
diag "backend uid: $out | $(decision_of $BACKEND_UID)"
check "a back-end executable under the [backend] user gets no device without a grant" \
    grep -q "^uffd: EPERM" <<<"$out"
check "and is judged as a back-end (role=backend), not turned away at accept" \
    grep -q "decision=deny role=backend reason=not-granted why=no-granted-socket .*uid=$BACKEND_UID " <<<"$(decision_of $BACKEND_UID)"
out=$(as $OTHER_UID "$WORK/backend" library)
diag "other uid: $out | $(decision_of $OTHER_UID)"
check "the same executable under another uid is answered wrong-uid" grep -q "^uffd: EPERM (reason 3:" <<<"$out"
check "at accept, before any back-end fact is read (no role in its audit line)" \
    bash -c 'grep -q "decision=deny reason=wrong-uid .*uid=$1 " <<<"$2" && ! grep -q "role=" <<<"$2"' _ $OTHER_UID "$(decision_of $OTHER_UID)"
stop_pid "$BROKER_PID"
check "the knob still reads 0" test "$(knob)" = 0
tap_end

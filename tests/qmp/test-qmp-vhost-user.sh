#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# vhost-user at knob 0: the migrating domain's qemu-storage-daemon gets the device from the broker and postcopy works; other back-ends are refused.
#
# Both sides run QEMU 7.2 with a vhost-user-blk-pci disk served by a
# qemu-storage-daemon with the libvhost-user postcopy fixes
# (qemu-patches/build-qsd.sh; UFFD_SHIM_TEST_QSD names it). The
# destination's QEMU and daemon run as the QEMU user with the preload; the
# broker knows the daemon only as [backend] user + executables, and finds
# the domain it serves from the facts (backend-facts.c). The guest
# (tests/guest, VIRTIO=1) reads through the device into pages still on
# the source after the switch: the daemon's pread() takes kernel-mode
# faults on the userfaultfd the broker's device made. Refused: a daemon
# without the device, the daemon of a domain without a grant, a daemon
# serving the migrating domain and another one, a daemon its QEMU is not
# connected to, a daemon of another user, a copy of the daemon's binary.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_device
require_cmd python3 qemu-system-x86_64 as ld objcopy setpriv
require_knob_zero
QSD=${UFFD_SHIM_TEST_QSD:-}
[ -n "$QSD" ] && [ -x "$QSD" ] ||
    skip_all "needs a qemu-storage-daemon with the libvhost-user postcopy fixes (UFFD_SHIM_TEST_QSD, built by qemu-patches/build-qsd.sh)"

QEMU=${UFFD_SHIM_TEST_QEMU:-$(command -v qemu-system-x86_64)}
QEMU_UID=64055
OTHER_UID=65534
make_workdir
"$TESTS_DIR/guest/build-guest.sh" "$WORK/guest.img" VIRTIO=1 >"$WORK/build-guest.log" 2>&1 ||
    { echo "1..1"; echo "not ok 1 - build the test guest"; cat "$WORK/build-guest.log"; exit 1; }
chown "$QEMU_UID:$QEMU_UID" "$WORK/guest.img"   # QEMU opens its IDE disk read-write
install -m 0644 "$WORK/guest.img" "$WORK/vdisk.img"    # what the daemons export, read-only
install -m 0755 "$UFFD_SHIM_PRELOAD" "$WORK/preload.so"
install -m 0755 "$QSD" "$WORK/qsd-copy"
mkdir -m 0777 "$WORK/vu"
BROKER_QEMU_UID=$QEMU_UID BROKER_EMULATORS="$QEMU" write_broker_config "$WORK/broker.conf" \
    "[backend]" "user=$QEMU_UID" "executables=$QSD"
start_broker "$WORK/broker.conf" || { echo "1..1"; echo "not ok 1 - broker starts"; exit 1; }

UUID=7b1e2c44-0d6a-4c3e-9f5d-2a8e61c0b913
UUID_OTHER=0c5f8e21-93b4-4a7d-8e60-5d17f2a4c9b8
PRELOAD_ENV="env LD_PRELOAD=$WORK/preload.so UFFD_SHIM_SOCKET=$WORK/run/uffd.sock"
launch() { # launch NAME UUID SOCKET: the words that start a QEMU as libvirt would
    echo "python3 $TESTS_DIR/integration/fake-libvirt-launch.py --run-dir $WORK/libvirt" \
         "--name $1 --uuid $2 --uid $QEMU_UID --vhost-user-disk $3 --"
}
vu_args() { # vu_args SOCKET: guest RAM shared, one vhost-user-blk disk
    echo "-object memory-backend-memfd,id=mem,size=128M,share=on -machine memory-backend=mem" \
         "-chardev socket,id=vu,path=$1 -device vhost-user-blk-pci,chardev=vu,id=vublk,disable-legacy=on"
}

# start_qsd NAME UID EXE PRELOAD(yes|no) SOCKET...: a daemon exporting the
# image at each SOCKET; QSD_PID is its pid.
start_qsd() {
    local name=$1 uid=$2 exe=$3 pre=$4 i=0 s
    shift 4
    local args=(--blockdev "driver=file,node-name=disk,filename=$WORK/vdisk.img,read-only=on")
    for s in "$@"; do
        args+=(--export "type=vhost-user-blk,id=exp$i,node-name=disk,addr.type=unix,addr.path=$s,writable=off")
        i=$((i + 1))
    done
    local envw=(env)
    [ "$pre" = yes ] && envw=($PRELOAD_ENV)
    # umask 0: sockets any QEMU user may connect to
    ( umask 000; exec setpriv --reuid="$uid" --regid="$uid" --clear-groups --inh-caps=-all \
        --bounding-set=-all -- "${envw[@]}" "$exe" "${args[@]}" ) >"$WORK/qsd-$name.log" 2>&1 &
    QSD_PID=$!
    on_exit "stop_pid $QSD_PID"
    for ((i = 0; i < 100; i++)); do
        local all=1
        for s in "$@"; do [ -S "$s" ] || all=0; done
        [ $all = 1 ] && return 0
        kill -0 "$QSD_PID" 2>/dev/null || break
        sleep 0.05
    done
    diag "qsd $name did not start: $(cat "$WORK/qsd-$name.log")"
    return 1
}

# start_paused NAME UUID SOCKET: the domain's QEMU, stopped (-S), connected to
# SOCKET (realizing the device talks to the daemon); QEMU_PID.
start_paused() {
    # shellcheck disable=SC2046 # word splitting of launch/vu_args is intended
    $(launch "$1" "$2" "$3") "$QEMU" -machine pc -accel tcg -m 128M -nodefaults -display none \
        -no-user-config -S $(vu_args "$3") >"$WORK/qemu-$1.log" 2>&1 &
    QEMU_PID=$!
    on_exit "stop_pid $QEMU_PID"
}

# decision_for PID: wait (10 s) for the broker's audit line about PID; print it.
decision_for() {
    local i line
    for ((i = 0; i < 200; i++)); do
        line=$(audit | grep "decision=.* pid=$1 " | head -n 1)
        [ -n "$line" ] && { echo "$line"; return 0; }
        sleep 0.05
    done
    return 1
}

# --- the migrating domain -------------------------------------------------
start_qsd src 0 "$QSD" no "$WORK/vu/src.sock"
start_qsd dst "$QEMU_UID" "$QSD" yes "$WORK/vu/dst.sock"
DST_QSD=$QSD_PID
ctl grant vu-dst "$UUID" >/dev/null
# Switch at once, and a postcopy stream of 20 MB/s: some seconds of postcopy,
# in which the guest's reads through the device meet missing pages.
check "postcopy with the daemon at knob 0: completes, guest memory and the data read through the device intact" \
    run_migration ok "$(launch vu-dst "$UUID" "$WORK/vu/dst.sock") $PRELOAD_ENV" \
    --src-extra="$(vu_args "$WORK/vu/src.sock")" \
    --dst-extra="$(vu_args "$WORK/vu/dst.sock") -trace enable=vhost_user_postcopy_fault_handler_found" \
    --switch-after-syncs 1 --postcopy-bandwidth 20000000
n=$(audit | grep -c "decision=grant role=backend reason=ok pid=$DST_QSD uid=$QEMU_UID exe=$QSD domain=vu-dst uuid=$UUID socket=$WORK/vu/dst.sock ")
diag "hand-outs to the daemon: $n; to QEMU: $(audit | grep -c 'decision=grant reason=ok .*domain=vu-dst')"
check "the broker handed the device to the daemon (probe and ADVISE)" test "$n" -ge 2
faults=$(grep -c vhost_user_postcopy_fault_handler_found "$WORK/ok/dst/qemu.log" 2>/dev/null)
diag "faults of the daemon served by the destination QEMU: ${faults:-0}"
check "the daemon's faults on missing pages went through its userfaultfd and were served" \
    test "${faults:-0}" -ge 1
check "the incoming-postcopy uffd of QEMU still ended the grant" \
    grep -q "grant-end domain=vu-dst uuid=$UUID why=exhausted" <(audit)
stop_pid "$DST_QSD"

# --- without the device the daemon offers no postcopy -------------------------
start_qsd nodev "$QEMU_UID" "$QSD" no "$WORK/vu/nodev.sock"
ctl grant vu-dst "$UUID" --replace >/dev/null
check "a daemon without the preload: the destination refuses postcopy" \
    run_migration nodev "$(launch vu-dst "$UUID" "$WORK/vu/nodev.sock") $PRELOAD_ENV" \
    --src-extra="$(vu_args "$WORK/vu/src.sock")" --dst-extra="$(vu_args "$WORK/vu/nodev.sock")" \
    --expect-unsupported
check "... because the daemon offered no postcopy" \
    grep -q "vhost-user backend not capable of postcopy" "$WORK/nodev/dst/qemu.log"
stop_pid "$QSD_PID"

# --- refusals ---------------------------------------------------------------------
ctl grant vu-dst "$UUID" --replace >/dev/null

start_qsd other "$QEMU_UID" "$QSD" yes "$WORK/vu/other.sock"
start_paused vu-other "$UUID_OTHER" "$WORK/vu/other.sock"
line=$(decision_for "$QSD_PID")
diag "$line"
check "the daemon of a domain without a grant is refused" \
    grep -q "decision=deny role=backend reason=not-granted why=no-granted-socket" <<<"$line"
stop_pid "$QEMU_PID"
stop_pid "$QSD_PID"

start_qsd shared "$QEMU_UID" "$QSD" yes "$WORK/vu/shared-a.sock" "$WORK/vu/shared-b.sock"
SHARED=$QSD_PID
start_paused vu-other "$UUID_OTHER" "$WORK/vu/shared-a.sock"
OTHER_QEMU=$QEMU_PID
decision_for "$SHARED" >/dev/null
start_paused vu-dst "$UUID" "$WORK/vu/shared-b.sock"
for ((i = 0; i < 200; i++)); do
    [ "$(audit | grep -c "decision=.* pid=$SHARED ")" -ge 2 ] && break
    sleep 0.05
done
line=$(audit | grep "decision=.* pid=$SHARED " | sed -n 2p)
diag "$line"
check "a daemon serving the granted domain and another one is refused" \
    grep -q "decision=deny role=backend reason=not-granted why=shared .*domain=vu-dst" <<<"$line"
stop_pid "$QEMU_PID"
stop_pid "$OTHER_QEMU"
stop_pid "$SHARED"

# The granted domain's QEMU runs (its status XML names the socket) but is not
# connected to it; another process connects and asks the daemon for its
# protocol features, which makes it probe for a userfaultfd.
start_qsd lonely "$QEMU_UID" "$QSD" yes "$WORK/vu/lonely.sock"
# shellcheck disable=SC2046
$(launch vu-dst "$UUID" "$WORK/vu/lonely.sock") "$QEMU" -machine none -S -display none \
    -nodefaults -no-user-config >"$WORK/qemu-lonely.log" 2>&1 &
QEMU_PID=$!
on_exit "stop_pid $QEMU_PID"
for ((i = 0; i < 100; i++)); do grep -q "pid='$QEMU_PID'" "$WORK/libvirt/vu-dst.xml" 2>/dev/null && break; sleep 0.05; done
python3 - "$WORK/vu/lonely.sock" <<'PY' &
import socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(struct.pack("<III", 15, 1, 0))   # VHOST_USER_GET_PROTOCOL_FEATURES
s.settimeout(10)
s.recv(64)
PY
FRONT=$!
line=$(decision_for "$QSD_PID")
wait "$FRONT"
diag "$line"
check "a daemon on the granted domain's socket that its QEMU is not connected to is refused" \
    grep -q "decision=deny role=backend reason=not-granted why=not-connected .*domain=vu-dst" <<<"$line"
stop_pid "$QEMU_PID"
stop_pid "$QSD_PID"

start_qsd wuid "$OTHER_UID" "$QSD" yes "$WORK/vu/wuid.sock"
start_paused vu-dst "$UUID" "$WORK/vu/wuid.sock"
line=$(decision_for "$QSD_PID")
diag "$line"
# a uid that is neither the QEMU nor the [backend] user is answered at accept
check "the granted domain's daemon under another user is refused (wrong-uid)" \
    grep -q "decision=deny reason=wrong-uid .*uid=$OTHER_UID " <<<"$line"
stop_pid "$QEMU_PID"
stop_pid "$QSD_PID"

start_qsd wexe "$QEMU_UID" "$WORK/qsd-copy" yes "$WORK/vu/wexe.sock"
start_paused vu-dst "$UUID" "$WORK/vu/wexe.sock"
line=$(decision_for "$QSD_PID")
diag "$line"
check "a copy of the daemon's binary serving the granted domain is refused" \
    grep -q "decision=deny reason=wrong-exe pid=$QSD_PID uid=$QEMU_UID exe=$WORK/qsd-copy" <<<"$line"
stop_pid "$QEMU_PID"
stop_pid "$QSD_PID"

check "no back-end but the migrating domain's daemon got the device" \
    test "$(audit | grep -c 'decision=grant role=backend')" = "$n"
check "the knob still reads 0" test "$(knob)" = 0
tap_end

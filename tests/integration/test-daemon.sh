#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The daemon itself: config errors, unsafe directories, least privilege, socket activation, syslog.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_cmd python3 setpriv
make_workdir

write_broker_config "$WORK/good.conf"
out=$("$UFFD_SHIMD" --config "$WORK/good.conf" --check-config 2>&1)
check "--check-config accepts a good configuration" grep -q ": OK" <<<"$out"

# bad_config NAME CONTENT EXPECTED-MESSAGE
bad_config() {
    printf '%b' "$2" >"$WORK/$1.conf"
    local out rc
    out=$(timeout 5 "$UFFD_SHIMD" --config "$WORK/$1.conf" 2>&1)
    rc=$?
    [ $rc = 1 ] && grep -qF "$3" <<<"$out" || { diag "rc=$rc: $out"; return 1; }
}
check "a bad value refuses to start, naming the key" bad_config lifetime '[grants]\nlifetime=0\n' "bad configuration: $WORK/lifetime.conf: [grants] lifetime: '0' is not a number in 1..604800"
check "an unknown key refuses to start, naming it" bad_config typo '[broker]\nsokcet=/run/x\n' "[broker] sokcet: unknown key"
check "an unknown QEMU user refuses to start" bad_config user '[qemu]\nuser=no-such-user-here\n' "[qemu] user: no such user 'no-such-user-here'"
check "a relative socket path refuses to start" bad_config rel '[broker]\nsocket=run/uffd.sock\n' "[broker] socket: 'run/uffd.sock' is not an absolute path"

# Unsafe directories.
mkdir -p "$WORK/loose"
chmod 0777 "$WORK/loose"
write_broker_config "$WORK/loose.conf" "" 
sed -i "s|^state-dir=.*|state-dir=$WORK/loose|" "$WORK/loose.conf"
out=$(timeout 5 "$UFFD_SHIMD" --config "$WORK/loose.conf" 2>&1)
check "a group/world-writable state directory refuses to start" grep -q "$WORK/loose must be owned by uid 0 and not writable by group or others" <<<"$out"
mkdir -p "$WORK/real"
ln -s "$WORK/real" "$WORK/link"
sed -i "s|^state-dir=.*|state-dir=$WORK/link|" "$WORK/loose.conf"
out=$(timeout 5 "$UFFD_SHIMD" --config "$WORK/loose.conf" 2>&1)
check "a symlinked state directory refuses to start" grep -q "$WORK/link is a symlink or not a directory" <<<"$out"

# Least privilege once serving.
start_broker "$WORK/good.conf" || { not_ok "broker starts"; tap_end; }
st=/proc/$BROKER_PID/status
check "after setup only CAP_SYS_PTRACE is effective and permitted" \
    bash -c 'grep -q "^CapEff:.*0000000000080000$" "$1" && grep -q "^CapPrm:.*0000000000080000$" "$1"' _ "$st"
check "bounding, inheritable and ambient sets are empty" \
    bash -c 'grep -q "^CapBnd:.*0000000000000000$" "$1" && grep -q "^CapInh:.*0000000000000000$" "$1" && grep -q "^CapAmb:.*0000000000000000$" "$1"' _ "$st"
check "no-new-privileges is set" grep -q "^NoNewPrivs:.*1$" "$st"
out=$(ctl --json status)
check "uffd-shimctl --json status reports the broker pid" grep -q "\"pid\" : $BROKER_PID" <<<"$out"
stop_pid "$BROKER_PID"
check "SIGTERM stops it cleanly, keeping its grants file" \
    bash -c '! kill -0 "$1" 2>/dev/null && grep -q "stopping; grants are kept" "$2"' _ "$BROKER_PID" "$BROKER_LOG"

# Signals and configuration files.
out=$("$UFFD_SHIMD" --config "$WORK/missing.conf" --check-config 2>&1)
rc=$?
check "--check-config fails on a missing file (status 1, naming it)" \
    eval '[ $rc = 1 ] && grep -q "$WORK/missing.conf: .*No such file" <<<"$out"'
# (In a private /run: a broker that did start would take the default paths.)
out=$(unshare -m --propagation private bash -c \
    'mount -n -t tmpfs -o mode=0755 tmpfs /run && exec timeout 5 "$1" --config "$2"' _ \
    "$UFFD_SHIMD" "$WORK/missing.conf" 2>&1)
check "a missing file named with --config refuses to start" test $? = 1
UUID1=6f1c2a9e-1111-4a7b-9c3d-0123456789ab
write_broker_config "$WORK/hup.conf"
start_broker "$WORK/hup.conf" || { not_ok "broker starts"; tap_end; }
cp "$WORK/hup.conf" "$WORK/ctl.conf"   # uffd-shimctl keeps reading a good file
BROKER_CONFIG=$WORK/ctl.conf
ctl grant dom1 $UUID1 >/dev/null
# hup EXPECTED-LOG-LINE: sends SIGHUP, waits for the line.
hup() {
    local n i
    n=$(grep -c "SIGHUP" "$BROKER_LOG")
    kill -HUP "$BROKER_PID"
    for ((i = 0; i < 50; i++)); do
        [ "$(grep -c "SIGHUP" "$BROKER_LOG")" -gt "$n" ] && break
        sleep 0.1
    done
    tail -n 1 "$BROKER_LOG" | grep -q "$1" || { diag "$(tail -n 3 "$BROKER_LOG")"; return 1; }
}
write_broker_config "$WORK/hup.conf" "deny-domains=dom2"
check "SIGHUP reloads the configuration" hup "SIGHUP: reloaded the configuration from $WORK/hup.conf"
check "... and the broker lives on" kill -0 "$BROKER_PID"
check "... keeping its grants" eval 'ctl grants | grep -q "^dom1 "'
check "... and applying the new one (deny-domains=dom2)" \
    eval '! ctl grant dom2 6f1c2a9e-2222-4a7b-9c3d-0123456789ab 2>/dev/null'
printf '[grants]\nlifetime=0\n' >"$WORK/hup.conf"
check "SIGHUP with a bad file: not reloaded, naming the key" \
    hup "configuration not reloaded, the running one stays: .*\[grants\] lifetime: '0'"
check "... the running configuration stays (dom2 still denied, dom3 granted)" \
    eval '! ctl grant dom2 6f1c2a9e-2222-4a7b-9c3d-0123456789ab 2>/dev/null && ctl grant dom3 6f1c2a9e-3333-4a7b-9c3d-0123456789ab >/dev/null'
write_broker_config "$WORK/hup.conf"
sed -i "s|^socket=.*|socket=$WORK/run/other.sock|" "$WORK/hup.conf"
check "SIGHUP with another socket path: not reloaded, a restart is needed" \
    hup "\[broker\] socket changed: that takes a restart"
write_broker_config "$WORK/hup.conf" "deny-domains=dom2"
sed -i "s|^user=.*|user=nobody|" "$WORK/hup.conf"
check "SIGHUP with [qemu] user changed to a name: not reloaded (no lookup while serving)" \
    hup "\[qemu\] user changed to the name 'nobody'"
kill -0 "$BROKER_PID"
check "after four SIGHUPs the broker still serves" eval 'kill -0 $BROKER_PID && ctl status >/dev/null'
stop_pid "$BROKER_PID"

# systemd socket activation and readiness, without systemd.
rm -f "$WORK/run/uffd.sock" "$WORK/run/admin.sock"
out=$(python3 "$TESTS_DIR/integration/socket-activate.py" "$WORK/run/uffd.sock" "$WORK/run/admin.sock" \
      "$WORK/activated.pid" -- "$UFFD_SHIMD" --config "$WORK/good.conf" 2>>"$WORK/activated.log")
apid=$(cat "$WORK/activated.pid" 2>/dev/null)
on_exit "stop_pid ${apid:-}"
check "socket-activated: READY=1 is sent over \$NOTIFY_SOCKET" grep -q "READY=1" <<<"$out"
check "socket-activated: it serves the admin socket it was given" \
    bash -c '"$1" --config "$2" status | grep -q "pid $3"' _ "$UFFD_SHIMCTL" "$WORK/good.conf" "$apid"
check "socket-activated: it answers on the client socket it was given" \
    bash -c 'UFFD_SHIM_SOCKET="$1" setpriv --reuid=12345 --regid=12345 --clear-groups "$2" library --no-fault | grep -q "reason 3:"' _ "$WORK/run/uffd.sock" "$UFFD_PROBE"
stop_pid "$apid"

# syslog: the audit line goes to the log socket (a private /dev with our own /dev/log).
if command -v unshare >/dev/null; then
    cat >"$WORK/syslog.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
s.settimeout(15)
with open(sys.argv[1], "w") as f:
    try:
        while True:
            f.write(s.recv(4096).decode(errors="replace") + "\n")
            f.flush()
    except socket.timeout:
        pass
PY
    unshare -m --propagation private bash -c '
        mount -n -t tmpfs -o mode=0755 tmpfs /dev && mknod -m 0666 /dev/null c 1 3 || exit 3
        python3 "$1" "$2" & sl=$!
        for i in $(seq 100); do [ -S /dev/log ] && break; sleep 0.1; done
        rm -f "$5"
        "$3" --config "$4" --log syslog & d=$!
        for i in $(seq 50); do [ -S "$5" ] && break; sleep 0.1; done
        UFFD_SHIM_SOCKET="$5" setpriv --reuid=12345 --regid=12345 --clear-groups "$6" library --no-fault >/dev/null
        sleep 0.5; kill $d; wait $d; kill $sl 2>/dev/null; wait $sl 2>/dev/null
        true' _ "$WORK/syslog.py" "$WORK/syslog.out" "$UFFD_SHIMD" "$WORK/good.conf" "$WORK/run/uffd.sock" "$UFFD_PROBE"
    check "--log syslog: audit lines go to syslog (authpriv)" grep -q "uffd-shimd\[[0-9]*\]: audit: decision=deny reason=wrong-uid" "$WORK/syslog.out"
fi
tap_end

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# uffd-shimctl: --version, per-command help and options, JSON errors, grants --all, audit; the broker's journal fields.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_device
require_cmd python3 setpriv unshare
require_knob_zero
make_workdir
QEMU_UID=64055
UUID1=6f1c2a9e-1111-4a7b-9c3d-0123456789ab
cp "$UFFD_PROBE" "$WORK/probe" && chmod 0755 "$WORK/probe"
BROKER_QEMU_UID=$QEMU_UID BROKER_EMULATORS="$WORK/probe" write_broker_config "$WORK/broker.conf"
export UFFD_SHIM_SOCKET="$WORK/run/uffd.sock"
CTL=$UFFD_SHIMCTL

# --- version and help ---------------------------------------------------------
version=$(sed -n 's/^#define UFFD_SHIM_VERSION_STRING "\(.*\)"$/\1/p' "$MESON_BUILD_ROOT/build-config.h")
check "--version prints the project version ($version)" test "$("$CTL" --version)" = "uffd-shimctl $version"
check "--json --version is JSON" bash -c '"$1" --json --version | python3 -c "import json,sys; assert json.load(sys.stdin)[\"version\"] == sys.argv[1]" "$2"' _ "$CTL" "$version"
out=$("$CTL" grant --help)
check "grant --help is the grant command's help (its options, not another command's)" \
    bash -c 'grep -q "grant DOMAIN UUID" <<<"$1" && grep -q -- "--lifetime" <<<"$1" && ! grep -q -- "--reload" <<<"$1"' _ "$out"
out=$("$CTL" hook --help)
check "hook --help names --reload and the daemons' pid files" \
    bash -c 'grep -q -- "--reload" <<<"$1" && grep -q "/run/virtqemud.pid" <<<"$1" && ! grep -q -- "--lifetime" <<<"$1"' _ "$out"
out=$("$CTL" audit --help)
check "audit --help names --log-file and --journal" bash -c 'grep -q -- "--log-file" <<<"$1" && grep -q -- "--journal" <<<"$1"' _ "$out"

# --- errors, plain and JSON -----------------------------------------------------
# jerr EXPECTED-EXIT REASON ARGS...: JSON error on stdout, nothing on stderr.
jerr() {
    local want=$1 reason=$2 rc
    shift 2
    "$CTL" --config "$WORK/broker.conf" "$@" >"$WORK/j.out" 2>"$WORK/j.err"
    rc=$?
    [ "$rc" = "$want" ] && [ ! -s "$WORK/j.err" ] &&
        python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert e["reason"]==sys.argv[2] and e["exit_status"]==int(sys.argv[3]) and e["message"], e' \
            "$WORK/j.out" "$reason" "$want" 2>>"$WORK/j.err" ||
        { diag "rc=$rc $(cat "$WORK/j.out" "$WORK/j.err")"; return 1; }
}
check "--json: broker unreachable is a JSON error, exit 3" jerr 3 unreachable --json status
check "--json after the command: the same" jerr 3 unreachable status --json
check "--json: an unknown option of a command is a JSON usage error, exit 2" jerr 2 usage --json grant --bogus vm1 $UUID1
check "--json: a bad UUID is a JSON usage error" jerr 2 usage --json grant vm1 not-a-uuid
check "--json: an unknown command is a JSON usage error" jerr 2 usage --json frobnicate
check "--json: --uses out of range is a JSON usage error" jerr 2 usage --json grant vm1 $UUID1 --uses 1001
out=$("$CTL" --config "$WORK/broker.conf" status 2>&1)
check "without --json the error is a line on stderr" grep -q "^uffd-shimctl: status: cannot reach the broker at $WORK/run/admin.sock" <<<"$out"

# --- grants --all, options before or after the arguments --------------------------
start_broker "$WORK/broker.conf" || { not_ok "broker starts"; tap_end; }
check "grant with options after the arguments" bash -c '"$1" -c "$2" grant vm1 "$3" --lifetime 600 --uses 2 | grep -qx "granted vm1"' _ "$CTL" "$WORK/broker.conf" $UUID1
out=$(ctl grants --json)
check "grants --json lists the active grant" bash -c 'python3 -c "import json,sys; g=json.load(sys.stdin); assert [x[\"domain\"] for x in g]==[\"vm1\"] and g[0][\"uses_max\"]==2" <<<"$1"' _ "$out"
out=$(launched vm1 $UUID1 $QEMU_UID -- "$WORK/probe" library)
check "the grant's QEMU gets a device" grep -q "kernel-fault: resolved" <<<"$out"
ctl revoke vm1 >/dev/null
out=$(ctl grants)
check "grants: an ended grant is not listed" grep -qx "no active grants" <<<"$out"
out=$(ctl grants --all)
diag "$out"
# The probe exits at once: the broker may see its QEMU gone before the revoke.
check "grants --all: the ended grant, its state and why" \
    grep -qE "^vm1 +$UUID1 +[0-9]/2 +[0-9]+ +(revoked .*revoked \(domain stopped, or by hand\)|exited .*its QEMU exited)$" <<<"$out"
out=$(ctl --json grants -a)
check "grants --all --json: state and why" bash -c 'python3 -c "import json,sys; g=json.load(sys.stdin); assert g[0][\"state\"] in (\"revoked\", \"exited\") and g[0][\"why\"] and g[0][\"pid\"]>0, g" <<<"$1"' _ "$out"
check "--json: revoking a grant that ended is a JSON error (not-found)" jerr 1 not-found --json revoke vm1

# --- audit: did the migration use the shim ------------------------------------
ctl grant vm2 6f1c2a9e-2222-4a7b-9c3d-0123456789ab >/dev/null
check "--json: a refusal of the broker is a JSON error, exit 1 (exists)" jerr 1 exists --json grant vm2 6f1c2a9e-2222-4a7b-9c3d-0123456789ab
ctl revoke vm2 >/dev/null
out=$("$CTL" audit vm1 --log-file "$BROKER_LOG")
rc=$?
diag "$out"
check "audit vm1: the grant used the shim, exit 0" \
    bash -c '[ "$1" = 0 ] && grep -q "grant $2, created" <<<"$3" && grep -q "used the shim: yes, 1 device handed to QEMU pid [0-9]*" <<<"$3" && grep -qE ": (revoked|exited)$" <<<"$3"' _ "$rc" $UUID1 "$out"
"$CTL" audit vm2 --log-file "$BROKER_LOG" >"$WORK/vm2.txt"
rc=$?
check "audit vm2: no device handed out, exit 1" bash -c '[ "$1" = 1 ] && grep -q "used the shim: no" "$2"' _ "$rc" "$WORK/vm2.txt"
"$CTL" audit nosuch --log-file "$BROKER_LOG" >"$WORK/nosuch.txt"
check "audit of a domain without records: 0 grants, exit 1" bash -c '[ "$1" = 1 ] && grep -q "^nosuch: 0 grants" "$2"' _ "$?" "$WORK/nosuch.txt"
out=$("$CTL" --json audit vm1 -f "$BROKER_LOG")
check "audit --json: used_shim, devices and the QEMU pid" \
    bash -c 'python3 -c "import json,sys; a=json.load(sys.stdin); g=a[\"grants\"][-1]; assert a[\"domain\"]==\"vm1\" and g[\"used_shim\"] and g[\"devices\"]==1 and len(g[\"pids\"])==1 and g[\"why\"] in (\"revoked\", \"exited\"), a" <<<"$1"' _ "$out"
check "--json: audit of an unreadable log is a JSON error" jerr 2 log --json audit vm1 --log-file "$WORK/none.log"
stop_pid "$BROKER_PID"

# --- the journal: structured fields -------------------------------------------
# In a private mount namespace, /run/systemd/journal/socket is a sink that
# records what the broker (--log syslog) sends to it.
mkdir -p "$WORK/journal"
cat >"$WORK/journal.sh" <<'S'
set -u
W=$1; shift
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systemd/journal
python3 "$TESTS_DIR/integration/journal-sink.py" /run/systemd/journal/socket "$W/journal/entries" "$W/journal/ready" &
sink=$!
for i in $(seq 100); do [ -e "$W/journal/ready" ] && break; sleep 0.05; done
"$UFFD_SHIMD" --config "$W/broker.conf" --log syslog >"$W/journal/stderr" 2>&1 &
b=$!
for i in $(seq 100); do "$UFFD_SHIMCTL" -c "$W/broker.conf" status >/dev/null 2>&1 && break; sleep 0.05; done
"$UFFD_SHIMCTL" -c "$W/broker.conf" grant vm3 6f1c2a9e-3333-4a7b-9c3d-0123456789ab >/dev/null
"$UFFD_SHIMCTL" -c "$W/broker.conf" revoke vm3 >/dev/null
sleep 0.2
kill -TERM $b; wait $b
kill -TERM $sink; wait $sink 2>/dev/null
exit 0
S
TESTS_DIR=$TESTS_DIR UFFD_SHIMD=$UFFD_SHIMD UFFD_SHIMCTL=$UFFD_SHIMCTL \
    unshare -m --propagation private -- bash "$WORK/journal.sh" "$WORK" >"$WORK/journal.log" 2>&1
entries=$WORK/journal/entries
diag "journal entries: $(grep -c '^MESSAGE=' "$entries" 2>/dev/null)"
grep -A20 "^MESSAGE=audit: grant-create" "$entries" 2>/dev/null | sed '/^$/q' | sed 's/^/#   /'
# entry_has MESSAGE-PREFIX FIELD=VALUE...: one entry with that message has every field.
entry_has() {
    python3 - "$entries" "$@" <<'P'
import sys
entries = open(sys.argv[1], "rb").read().decode("utf-8", "replace").split("\n\n")
want_msg, fields = sys.argv[2], sys.argv[3:]
for e in entries:
    lines = e.split("\n")
    if any(l.startswith("MESSAGE=" + want_msg) for l in lines) and all(f in lines for f in fields):
        sys.exit(0)
sys.exit(1)
P
}
check "with a journal, the broker (--log syslog) logs to it" test -s "$entries"
check "journal: the audit line keeps its text in MESSAGE" entry_has "audit: grant-create domain=vm3 uuid=6f1c2a9e-3333-4a7b-9c3d-0123456789ab"
check "journal: SYSLOG_IDENTIFIER=uffd-shimd and the authpriv facility" \
    entry_has "audit: grant-create" SYSLOG_IDENTIFIER=uffd-shimd SYSLOG_FACILITY=10 PRIORITY=5
check "journal: the record's fields (UFFD_SHIM_EVENT, _DOMAIN, _UUID, _USES, _RESULT)" \
    entry_has "audit: grant-create" UFFD_SHIM_EVENT=grant-create UFFD_SHIM_DOMAIN=vm3 \
    UFFD_SHIM_UUID=6f1c2a9e-3333-4a7b-9c3d-0123456789ab UFFD_SHIM_USES=8 UFFD_SHIM_RESULT=ok
check "journal: the revoke record too" entry_has "audit: grant-revoke" UFFD_SHIM_EVENT=grant-revoke UFFD_SHIM_DOMAIN=vm3
check "journal: an ordinary message has no record fields" \
    python3 -c 'import sys; e=[x for x in open(sys.argv[1]).read().split("\n\n") if "MESSAGE=listening" in x or "MESSAGE=loaded" in x]; assert e and not any("UFFD_SHIM_EVENT" in x for x in e)' "$entries"
check "with the journal taking them, nothing went to stderr" bash -c '! grep -q "audit: " "$1"' _ "$WORK/journal/stderr"
tap_end

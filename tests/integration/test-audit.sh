#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Audit lines: a newline, spaces, '=' and quotes in the executable path and domain name give one well-formed line per decision.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_device
require_cmd python3 setpriv
require_knob_zero

QEMU_UID=64055
UUID1=6f1c2a9e-1111-4a7b-9c3d-0123456789ab
UUID2=6f1c2a9e-2222-4a7b-9c3d-0123456789ab
make_workdir
install -m 0755 "$UFFD_PROBE" "$WORK/probe"
# The allowed emulator under a second name (a hard link: same inode) that
# holds a whole forged record after a newline.
EVIL_DIR="$WORK/qemu dir=x"
EVIL_EXE="$EVIL_DIR/qemu"$'\n'"uffd-shimd[1]: audit: decision=grant reason=ok pid=1 uid=0 exe=x domain=\"y\" uuid=-"
mkdir -p "$EVIL_DIR"
chmod 0755 "$EVIL_DIR"
ln "$WORK/probe" "$EVIL_EXE"
EVIL_DOM='vm 1 uuid=0 reason=ok "q"'
BROKER_QEMU_UID=$QEMU_UID BROKER_EMULATORS="$WORK/probe" write_broker_config "$WORK/broker.conf"
export UFFD_SHIM_SOCKET="$WORK/run/uffd.sock"
start_broker "$WORK/broker.conf" || { not_ok "broker starts"; tap_end; }

ctl grant "$EVIL_DOM" $UUID1 >/dev/null
out=$(launched "$EVIL_DOM" $UUID1 $QEMU_UID -- "$EVIL_EXE" library)
check "the granted QEMU under the odd path is served" grep -q "kernel-fault: resolved" <<<"$out"
out=$(launched "plain" $UUID2 $QEMU_UID -- "$EVIL_EXE" library)
check "the same executable without a grant is denied (not-granted)" grep -q "reason 5:" <<<"$out"
ctl revoke "$EVIL_DOM" >/dev/null
ctl grant plain2 $UUID2 >/dev/null
stop_pid "$BROKER_PID"

# Every line of the log is one of the broker's, and every audit line is a
# sequence of key=value pairs whose values are bare tokens or quoted with
# escapes; the values read back are the ones the broker saw.
python3 - "$BROKER_LOG" "$EVIL_EXE" "$EVIL_DOM" "$BROKER_PID" <<'EOF' >"$WORK/parsed" 2>&1
import ast, re, sys
log, exe, dom, pid = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
pair = r'[a-z-]+=(?:"(?:[^"\\\x00-\x1f]|\\.)*"|[^\s"=\\]+)'
# An event word (grant-create, grant-end, ...) or none before the pairs.
line_re = re.compile(r'^uffd-shimd\[%s\]: audit: (?:[a-z-]+ )?%s(?: %s)*$' % (pid, pair, pair))
lines = open(log, "rb").read().decode("latin-1").split("\n")[:-1]
bad = [l for l in lines if not l.startswith("uffd-shimd[%s]: " % pid)]
print("foreign lines: %d" % len(bad))
for l in bad:
    print("  " + repr(l))
def value(v):
    return ast.literal_eval("b" + v).decode() if v.startswith('"') else v
for l in lines:
    if ": audit: " not in l:
        continue
    if not line_re.match(l):
        print("malformed: " + repr(l))
        continue
    kv = dict((k, value(v)) for k, v in re.findall(r'([a-z-]+)=("(?:[^"\\]|\\.)*"|[^\s"=\\]+)', l.split(": audit: ", 1)[1]))
    first = l.split(": audit: ", 1)[1].split(" ", 1)[0]
    kind = "decision-" + kv["decision"] if first.startswith("decision=") else first
    print("%s exe=%s domain=%s" % (kind, "EVIL" if kv.get("exe") == exe else kv.get("exe", "none"),
                                  "EVIL" if kv.get("domain") == dom else kv.get("domain", "none")))
EOF
diag "$(cat "$WORK/parsed")"
check "no line of the log comes from a forged record" grep -qx "foreign lines: 0" "$WORK/parsed"
check "every audit line is well formed" bash -c '! grep -q "^malformed" "$1"' _ "$WORK/parsed"
check "exactly one grant decision, naming the path and domain as they are" \
    test "$(grep -c '^decision-grant' "$WORK/parsed")" = 1 -a "$(grep -c '^decision-grant exe=EVIL domain=EVIL$' "$WORK/parsed")" = 1
check "exactly one deny decision, naming the path as it is" \
    test "$(grep -c '^decision-deny' "$WORK/parsed")" = 1 -a "$(grep -c '^decision-deny exe=EVIL domain=-$' "$WORK/parsed")" = 1
check "grant-create and grant-revoke name the domain as it is" \
    test "$(grep -c '^grant-create exe=none domain=EVIL$' "$WORK/parsed")" = 1 -a \
         "$(grep -c '^grant-revoke exe=none domain=EVIL$' "$WORK/parsed")" = 1
check "a plain value stays bare" grep -q "audit: grant-create domain=plain2 uuid=$UUID2 " "$BROKER_LOG"
tap_end

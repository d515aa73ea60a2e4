#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The built uffd-shim-hook driven like libvirt does, against a real uffd-shimd.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_built UFFD_SHIM_HOOK UFFD_SHIMD UFFD_SHIMCTL
require_cmd python3
make_workdir

HOOK=$UFFD_SHIM_HOOK
# The hook's native-marker cache (hooks/native-cache.c) goes here, not to /run.
UFFD_SHIM_HOOK_CACHE=$WORK/native-cache
export UFFD_SHIM_HOOK_CACHE
PRELOAD=${UFFD_SHIM_PRELOAD:-}
if [ -z "$PRELOAD" ] || [ ! -f "$PRELOAD" ]; then
    PRELOAD=$WORK/libuffd-shim-preload.so
    : > "$PRELOAD"
fi
UUID1=c7a5fdbd-edaf-9455-926a-d65c16db1809
UUID2=00112233-4455-6677-8899-aabbccddeeff
EMULATOR=/usr/bin/qemu-system-x86_64
META_NS=http://uffd-shim.org/schemas/domain/1.0
QEMU_NS=http://libvirt.org/schemas/domain/qemu/1.0

# A failed check shows the hook's last exit status, stdout and stderr.
tap_on_fail 'for f in "$WORK/rc" "$WORK/out" "$WORK/err"; do
    [ -s "$f" ] && sed "s/^/# $(basename "$f"): /" "$f"; done'

# ---- fixtures ----------------------------------------------------------
# write_config FILE [HOOK-LINES [GRANTS-LINES]]: the private broker's
# configuration (write_broker_config) with a [hook] section.
write_config() {
    BROKER_EMULATORS=$EMULATOR write_broker_config "$1" "${3:-}" "[hook]" "preload = $PRELOAD" "${2:-}"
}
# shellcheck disable=SC2034  # read by the eval'd checks
ADMIN=$WORK/run/admin.sock

# domain_xml NAME UUID [METADATA-INNER [EXTRA-ELEMENTS]]
domain_xml() {
    cat <<EOF
<domain type='qemu'>
  <name>$1</name>
  <uuid>$2</uuid>
  <metadata>
    <app1:foo xmlns:app1='http://app1.org/app1/'>fizz</app1:foo>
    ${3:-}
  </metadata>
  <memory unit='KiB'>131072</memory>
  <os>
    <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
  </os>
  <devices>
    <emulator>$EMULATOR</emulator>
  </devices>
  ${4:-}
</domain>
EOF
}

opt_in_meta() {
    echo "<uffd-shim:postcopy xmlns:uffd-shim='$META_NS' enabled='$1'/>"
}

# hook CONFIG NAME OP SUBOP < XML: stdout in $WORK/out, stderr in $WORK/err,
# exit status in $WORK/rc (a file: "xml | hook" runs hook in a subshell).
hook() {
    local cfg=$1
    shift
    UFFD_SHIM_CONFIG=$cfg "$HOOK" "$1" "$2" "$3" - > "$WORK/out" 2> "$WORK/err"
    echo $? > "$WORK/rc"
}

rc_is() { [ "$(cat "$WORK/rc")" = "$1" ]; }
out_empty() { [ ! -s "$WORK/out" ]; }
err_empty() { [ ! -s "$WORK/err" ]; }
err_has() { grep -qF -- "$1" "$WORK/err"; }
err_one_line() { [ "$(wc -l < "$WORK/err")" = 1 ]; }
out_has() { grep -qF -- "$1" "$WORK/out"; }
has_grant() { active_grants | grep -qx "$1 $2"; }
no_grant() { ! active_grants | grep -q "^$1 "; }

write_config "$WORK/broker.conf"
write_config "$WORK/default.conf"
write_config "$WORK/native.conf" "native-emulators = $EMULATOR"
write_config "$WORK/opt-in.conf" "opt-in = true
domains = db-*"
write_config "$WORK/opt-in-meta.conf" "opt-in = true
metadata-opt-in = true
domains = db-*"
write_config "$WORK/deny.conf" "" "deny-domains = secret-*"
write_config "$WORK/no-preload.conf"
sed -i "s|^preload = .*|preload = $WORK/missing.so|" "$WORK/no-preload.conf"

# Emulators for the native-marker checks, made early: the cache stores an
# answer only for a file unchanged for a few seconds.
printf 'ELF...uffd-shim-native-broker-v1 /run/uffd-shim/uffd.sock...' > "$WORK/qemu-native"
printf 'ELF...uffd-shim-native-broker-v1 /run/uffd-shim/uffd.sock...' > "$WORK/qemu-native2"
printf 'ELF...uffd-shim-native-broker-v0 /run/uffd-shim/uffd.sock...' > "$WORK/qemu-plain"

start_broker "$WORK/broker.conf" || { not_ok "the broker starts"; tap_end; }

# ---- tests --------------------------------------------------------------
"$HOOK" --version > "$WORK/out" 2> "$WORK/err"; echo $? > "$WORK/rc"
check "--version" eval 'rc_is 0 && out_has uffd-shim-hook'

# Fast path: other operations neither load the config nor parse the XML.
for op in "prepare begin" "start begin" "started begin" "reconnect begin" "restore begin" "attach begin"; do
    # shellcheck disable=SC2086
    echo "<not-xml" | hook "$WORK/does-not-exist.conf" vm1 $op
    check "$op passes through without config or XML" eval 'rc_is 0 && out_empty && err_empty'
done
# Drained, not just left: the writer (libvirt) sees every byte taken, no EPIPE.
{ head -c 8388608 /dev/zero; echo $? > "$WORK/writer"; } | hook "$WORK/does-not-exist.conf" vm1 started begin
check "8 MiB on stdin is drained on the fast path" \
    eval 'rc_is 0 && out_empty && err_empty && [ "$(cat "$WORK/writer")" = 0 ]'
# ... and they do not even load libxml2 (with ICU and libstdc++ the bulk of an
# exec of the hook); migrate begin, which reads the XML, does.
libs_loaded() { # libs_loaded OP SUBOP < XML: the dynamic loader's list, in $WORK/libs
    LD_DEBUG=files UFFD_SHIM_CONFIG=$WORK/default.conf "$HOOK" vm1 "$1" "$2" - > /dev/null 2> "$WORK/libs"
}
echo "<not-xml" | libs_loaded prepare begin
check "ignored operations do not load libxml2" \
    eval 'grep -q "file=libglib" "$WORK/libs" && ! grep -q "file=libxml2" "$WORK/libs"'
echo "<not-xml" | libs_loaded stopped end
check "stopped end does not load libxml2" eval '! grep -q "file=libxml2" "$WORK/libs"'
echo "<not-xml" | libs_loaded migrate begin
check "migrate begin loads libxml2" grep -q "file=libxml2" "$WORK/libs"

# migrate begin, eligible: grant + XML with the preload.
domain_xml vm1 "$UUID1" | hook "$WORK/default.conf" vm1 migrate begin
check "migrate begin: exit 0, nothing on stderr" eval 'rc_is 0 && err_empty'
check "migrate begin: XML has the preload qemu:env" \
    out_has "<qemu:env name=\"LD_PRELOAD\" value=\"$PRELOAD\"/>"
check "migrate begin: qemu namespace declared" out_has "xmlns:qemu=\"$QEMU_NS\""
check "migrate begin: rest of the XML kept" \
    eval 'out_has "<name>vm1</name>" && out_has "<app1:foo xmlns:app1=\"http://app1.org/app1/\">fizz</app1:foo>"'
check "migrate begin: grant for name and uuid" has_grant vm1 "$UUID1"

domain_xml vm1 "$UUID1" | hook "$WORK/default.conf" vm1 migrate begin
check "migrate begin again replaces the grant" eval 'rc_is 0 && has_grant vm1 "$UUID1"'

domain_xml vm1 "$UUID1" | hook "$WORK/default.conf" vm1 reconnect begin
check "reconnect begin keeps the grant" eval 'rc_is 0 && out_empty && has_grant vm1 "$UUID1"'

domain_xml vm1 "$UUID1" | hook "$WORK/default.conf" vm1 stopped end
check "stopped end: exit 0, quiet" eval 'rc_is 0 && out_empty && err_empty'
check "stopped end: grant gone" no_grant vm1
domain_xml vm1 "$UUID1" | hook "$WORK/default.conf" vm1 release end
check "release end without a grant: exit 0, quiet" eval 'rc_is 0 && out_empty && err_empty'

domain_xml vm1 "$UUID1" | hook "$WORK/default.conf" vm1 migrate begin
domain_xml vm1 "$UUID1" | hook "$WORK/default.conf" vm1 release end
check "release end revokes too" eval 'rc_is 0 && no_grant vm1'

# What an earlier qemu.d hook added is kept, our library goes first.
domain_xml vm2 "$UUID2" "" "<qemu:commandline xmlns:qemu='$QEMU_NS'><qemu:arg value='-S'/><qemu:env name='LD_PRELOAD' value='/opt/other.so'/></qemu:commandline>" |
    hook "$WORK/default.conf" vm2 migrate begin
check "earlier hook's qemu:commandline kept, preload first" \
    eval 'rc_is 0 && out_has "<qemu:arg value=\"-S\"/>" && out_has "value=\"$PRELOAD:/opt/other.so\""'
check "only one qemu:commandline" eval '[ "$(grep -c "<qemu:commandline" "$WORK/out")" = 1 ]'
domain_xml vm2 "$UUID2" | hook "$WORK/default.conf" vm2 stopped end

# Native emulator: grant, but XML unchanged (empty output).
domain_xml vm1 "$UUID1" | hook "$WORK/native.conf" vm1 migrate begin
check "native emulator: grant, XML unchanged" eval 'rc_is 0 && out_empty && has_grant vm1 "$UUID1"'
domain_xml vm1 "$UUID1" | hook "$WORK/native.conf" vm1 stopped end

# Native by the marker in the binary, remembered per file (device, inode,
# size, mtime, ctime), never trusted for another file at the same path.
settle() { # waits until FILE has not changed for 3 s (what the cache wants)
    while [ $(( $(date +%s) - $(stat -c %Z "$1") )) -lt 3 ]; do sleep 0.2; done
}
domain_with() { # domain_with EMULATOR: vm1's XML with that emulator
    EMULATOR=$1 domain_xml vm1 "$UUID1"
}
settle "$WORK/qemu-native"
rm -rf "$UFFD_SHIM_HOOK_CACHE"   # holds the system QEMU's answer by now
domain_with "$WORK/qemu-native" | hook "$WORK/default.conf" vm1 migrate begin
check "marker in the emulator: grant, XML unchanged" \
    eval 'rc_is 0 && out_empty && err_empty && has_grant vm1 "$UUID1"'
check "the answer is cached, root-only" \
    eval '[ "$(stat -c %u:%a "$UFFD_SHIM_HOOK_CACHE")" = 0:700 ] &&
          [ "$(stat -c %u:%a:%s "$UFFD_SHIM_HOOK_CACHE/native-marker")" = 0:600:88 ]'
domain_with "$WORK/qemu-native" | hook "$WORK/default.conf" vm1 migrate begin
check "marker, second time (from the cache): XML unchanged" eval 'rc_is 0 && out_empty'
mv "$WORK/qemu-plain" "$WORK/qemu-native"
domain_with "$WORK/qemu-native" | hook "$WORK/default.conf" vm1 migrate begin
check "a plain emulator swapped in at the same path gets the preload" \
    eval 'rc_is 0 && out_has "<qemu:env name=\"LD_PRELOAD\" value=\"$PRELOAD\"/>"'
chmod 0755 "$UFFD_SHIM_HOOK_CACHE"
settle "$WORK/qemu-native2"
domain_with "$WORK/qemu-native2" | hook "$WORK/default.conf" vm1 migrate begin
check "cache directory open to others: not used, answer still right" \
    eval 'rc_is 0 && out_empty && [ "$(stat -c %s "$UFFD_SHIM_HOOK_CACHE/native-marker")" = 88 ]'
domain_with "$WORK/qemu-native2" | hook "$WORK/default.conf" vm1 stopped end

# Opt-in.
domain_xml web1 "$UUID1" | hook "$WORK/opt-in.conf" web1 migrate begin
check "opt-in: unlisted domain passes through, no grant" eval 'rc_is 0 && out_empty && no_grant web1'
# The incoming XML is the source host's: its metadata does not opt in here...
domain_xml web1 "$UUID1" "$(opt_in_meta yes)" | hook "$WORK/opt-in.conf" web1 migrate begin
check "opt-in: the incoming metadata enabled=yes does not opt in" \
    eval 'rc_is 0 && out_empty && no_grant web1'
# ... unless the operator lets it.
domain_xml web1 "$UUID1" "$(opt_in_meta yes)" | hook "$WORK/opt-in-meta.conf" web1 migrate begin
check "opt-in with metadata-opt-in: enabled=yes gets a grant and the preload" \
    eval 'rc_is 0 && out_has LD_PRELOAD && has_grant web1 "$UUID1"'
domain_xml web1 "$UUID1" | hook "$WORK/opt-in.conf" web1 stopped end
domain_xml web1 "$UUID1" | hook "$WORK/opt-in-meta.conf" web1 migrate begin
check "opt-in with metadata-opt-in: no metadata, not listed: no grant" \
    eval 'rc_is 0 && out_empty && no_grant web1'
domain_xml db-3 "$UUID2" | hook "$WORK/opt-in.conf" db-3 migrate begin
check "opt-in: domain listed in [hook] domains gets a grant" eval 'rc_is 0 && has_grant db-3 "$UUID2"'
domain_xml db-3 "$UUID2" "$(opt_in_meta no)" | hook "$WORK/opt-in.conf" db-3 stopped end
domain_xml db-4 "$UUID2" "$(opt_in_meta no)" | hook "$WORK/opt-in.conf" db-4 migrate begin
check "opt-in: listed domain with enabled=no opts out" eval 'rc_is 0 && out_empty && no_grant db-4'
domain_xml vm1 "$UUID1" "$(opt_in_meta no)" | hook "$WORK/default.conf" vm1 migrate begin
check "enabled=no opts out in default mode" eval 'rc_is 0 && out_empty && no_grant vm1'
domain_xml vm1 "$UUID1" "$(opt_in_meta maybe)" | hook "$WORK/default.conf" vm1 migrate begin
check "enabled=maybe: the migration goes on untouched, one warning, no grant" \
    eval 'rc_is 0 && out_empty && err_one_line && err_has "enabled=" && err_has "goes on without uffd-shim" && no_grant vm1'

# A migration naming a domain that runs here (libvirt's pid file locked by
# its QEMU) leaves that domain's grant alone, and is refused.
mkdir -p "$WORK/libvirt"
domain_xml run1 "$UUID1" | hook "$WORK/default.conf" run1 migrate begin
python3 -c 'import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
fcntl.lockf(fd, fcntl.LOCK_EX)
os.write(fd, b"%d" % os.getpid())
print("locked", flush=True)
time.sleep(60)' "$WORK/libvirt/run1.pid" > "$WORK/locker.out" &
LOCKER=$!
on_exit "stop_pid $LOCKER"
i=0
while ! grep -q locked "$WORK/locker.out" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
domain_xml run1 "$UUID2" | hook "$WORK/default.conf" run1 migrate begin
check "a domain running here: its grant is left alone, XML untouched, why on stderr (libvirt refuses the migration)" \
    eval 'rc_is 0 && out_empty && err_one_line && err_has "runs on this host" && err_has "pid $LOCKER"'
check "... and its grant is left alone (not replaced)" has_grant run1 "$UUID1"
kill "$LOCKER"
wait "$LOCKER" 2>/dev/null
domain_xml run1 "$UUID2" | hook "$WORK/default.conf" run1 migrate begin
check "once it stopped (pid file no longer locked) the grant is replaced" \
    eval 'rc_is 0 && has_grant run1 "$UUID2"'
domain_xml run1 "$UUID2" | hook "$WORK/default.conf" run1 stopped end

# Deny list: excluded domains are not even parsed.
domain_xml secret-1 "$UUID1" | hook "$WORK/deny.conf" secret-1 migrate begin
check "denied domain passes through, no grant" eval 'rc_is 0 && out_empty && no_grant secret-1'
echo "<!DOCTYPE x [<!ENTITY a 'b'>]><x/>" | hook "$WORK/deny.conf" secret-1 migrate begin
check "denied domain: XML not parsed" eval 'rc_is 0 && out_empty'

# A definition that brings the preload from the previous destination (libvirt
# keeps it in the live definition and sends it on): where the preload does
# not apply here, it is taken out; where it does, only this host's path stays.
RPM_PRELOAD=/usr/lib64/uffd-shim/libuffd-shim-preload.so
brought() { # brought NAME [VALUE]: vm XML bringing LD_PRELOAD=VALUE (default: ours and the RPM path)
    domain_xml "$1" "$UUID1" "" "<qemu:commandline xmlns:qemu='$QEMU_NS'>
    <qemu:env name='LD_PRELOAD' value='${2:-$PRELOAD:$RPM_PRELOAD}'/>
  </qemu:commandline>"
}
no_preload_out() { rc_is 0 && out_has "<name>" && ! grep -q "LD_PRELOAD\|qemu:commandline" "$WORK/out"; }
brought secret-1 | hook "$WORK/deny.conf" secret-1 migrate begin
check "denied domain bringing the preload: it is taken out (qemu:commandline with it), no grant" \
    eval 'no_preload_out && err_empty && no_grant secret-1'
brought secret-1 "/opt/keep.so:$RPM_PRELOAD" | hook "$WORK/deny.conf" secret-1 migrate begin
check "denied domain: other LD_PRELOAD entries stay" \
    eval 'rc_is 0 && out_has "<qemu:env name=\"LD_PRELOAD\" value=\"/opt/keep.so\"/>" && ! out_has uffd-shim'
brought web1 | hook "$WORK/opt-in.conf" web1 migrate begin
check "opt-in, domain not listed, bringing the preload: taken out, no grant" \
    eval 'no_preload_out && no_grant web1'
brought vm1 | hook "$WORK/native.conf" vm1 migrate begin
check "native emulator bringing the preload: grant, preload taken out" \
    eval 'no_preload_out && has_grant vm1 "$UUID1"'
domain_xml vm1 "$UUID1" | hook "$WORK/native.conf" vm1 stopped end
brought vm1 "$WORK/missing.so" | hook "$WORK/no-preload.conf" vm1 migrate begin
check "preload library missing here, the definition names it: taken out, warning, no grant" \
    eval 'no_preload_out && err_has "$WORK/missing.so" && no_grant vm1'
brought vm1 "$RPM_PRELOAD:/opt/keep.so" | hook "$WORK/default.conf" vm1 migrate begin
check "eligible, bringing the preload from another path: exactly this host's, the rest kept" \
    eval 'rc_is 0 && out_has "<qemu:env name=\"LD_PRELOAD\" value=\"$PRELOAD:/opt/keep.so\"/>" && has_grant vm1 "$UUID1"'
brought vm1 "$PRELOAD" | hook "$WORK/default.conf" vm1 migrate begin
check "eligible, bringing exactly this host's preload: XML unchanged" eval 'rc_is 0 && out_empty && has_grant vm1 "$UUID1"'
domain_xml vm1 "$UUID1" | hook "$WORK/default.conf" vm1 stopped end

# What the hook cannot use never stops a migration (it may need no
# userfaultfd): it goes on untouched, without a grant, with a warning.
domain_xml vm3 "$UUID1" | hook "$WORK/default.conf" vm2 migrate begin
check "argv/XML name mismatch: goes on untouched, no grant" \
    eval 'rc_is 0 && out_empty && err_has vm3 && no_grant vm2 && no_grant vm3'
cat > "$WORK/laughs.xml" <<'EOF'
<!DOCTYPE domain [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
]>
<domain><name>vm1</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid><description>&lol2;</description></domain>
EOF
hook "$WORK/default.conf" vm1 migrate begin < "$WORK/laughs.xml"
check "entity declarations: goes on untouched, no grant" \
    eval 'rc_is 0 && err_one_line && err_has DOCTYPE && out_empty && no_grant vm1'
printf '<domain><name>vm1</name>' | hook "$WORK/default.conf" vm1 migrate begin
check "malformed XML: goes on untouched, no grant" eval 'rc_is 0 && err_one_line && out_empty && no_grant vm1'
domain_xml vm1 "$UUID1" | hook "$WORK/no-preload.conf" vm1 migrate begin
check "missing preload library: goes on untouched, no grant" \
    eval 'rc_is 0 && out_empty && err_has "$WORK/missing.so" && no_grant vm1'
domain_xml vm1 "$UUID1" | hook "$WORK/does-not-exist.conf" vm1 migrate begin
check "unreadable config: goes on untouched" eval 'rc_is 0 && out_empty && err_has "bad configuration"'

# Broker down.
stop_pid "$BROKER_PID"
domain_xml vm1 "$UUID1" | hook "$WORK/default.conf" vm1 migrate begin
check "broker down: migrate begin exits 0 (a precopy migration needs no broker)" eval 'rc_is 0'
check "broker down: the preload still goes in (it names the broker in the domain log)" \
    out_has "<qemu:env name=\"LD_PRELOAD\" value=\"$PRELOAD\"/>"
check "broker down: one line naming the socket and the fix" \
    eval 'err_one_line && err_has "$ADMIN" && err_has "start uffd-shimd" && err_has "admin-socket" && err_has "postcopy will fail before the switch"'
domain_xml vm1 "$UUID1" | hook "$WORK/default.conf" vm1 stopped end
check "broker down: stopped end exits 0 with one line" \
    eval 'rc_is 0 && out_empty && err_one_line && err_has "$ADMIN"'
domain_xml web1 "$UUID1" | hook "$WORK/opt-in.conf" web1 migrate begin
check "broker down: ineligible domain still passes" eval 'rc_is 0 && out_empty && err_empty'

tap_end

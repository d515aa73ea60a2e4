#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# uffd-shimctl doctor: the report on this host, then a healthy and deliberately broken temp root.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_cmd python3
require_built UFFD_SHIMD UFFD_SHIMCTL UFFD_SHIM_HOOK
make_workdir

# A report's lines: "  NAME : LEVEL", indented detail and fix lines, the summary.
report_well_formed() {
    local l n=0
    while IFS= read -r l; do
        if [[ $l =~ ^\ \ [^\ ].*\ :\ (PASS|WARN|FAIL)$ ]]; then n=$((n + 1))
        elif [[ $l =~ ^\ {6}[^\ ] ]] || [[ $l =~ ^[0-9]+\ PASS,\ [0-9]+\ WARN,\ [0-9]+\ FAIL$ ]]; then :
        else diag "unexpected line: $l"; return 1; fi
    done <"$1"
    [ "$n" -ge 10 ]
}
# result_of JSON-FILE ID [FIELD]: the result (or another field) of the first check ID.
# (awk on json-glib's pretty output: one member per line; python3 starts too slowly here.)
result_of() {
    awk -v id="$2" -v field="${3:-result}" '
        /^ *"id" : / { cur = $0; sub(/^ *"id" : "/, "", cur); sub(/",$/, "", cur); next }
        cur == id && $0 ~ "^ *\"" field "\" : " {
            v = $0; sub("^ *\"" field "\" : \"?", "", v); sub(/"?,?$/, "", v); print v; found = 1; exit }
        END { if (!found) print "absent" }' "$1"
}
# Every WARN/FAIL carries a fix, no PASS does; exit status 1 exactly when something FAILs.
json_consistent() {
    awk -v rc="$2" '
        /^ *"result" : / { r = $0; sub(/^ *"result" : "/, "", r); sub(/",$/, "", r); if (r == "fail") n++ }
        /^ *"fix" : / { nofix = ($0 ~ /: null,?$/); if ((r == "pass") != nofix) bad = 1 }
        /^ *"fail" : / { total = $3 + 0 }
        END { exit !(!bad && total == n && (rc == 1) == (n > 0) && (rc == 0 || rc == 1)) }' "$1"
}

# --- 1. This host, as it is -------------------------------------------------
"$UFFD_SHIMCTL" doctor >"$WORK/host.txt" 2>&1
rc_text=$?
"$UFFD_SHIMCTL" --json doctor >"$WORK/host.json" 2>"$WORK/host.err"
rc_json=$?
diag "$(cat "$WORK/host.txt")"
check "host: the report is one 'NAME : PASS|WARN|FAIL' line per check" report_well_formed "$WORK/host.txt"
check "host: --json gives the same exit status, a fix for each WARN/FAIL, 1 iff a FAIL" \
    bash -c '[ "$1" = "$2" ]' _ "$rc_text" "$rc_json"
check "host: JSON is consistent with the exit status" json_consistent "$WORK/host.json" "$rc_json"
check "host: --json output is valid JSON" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$WORK/host.json"
expect_knob=$([ "$(knob)" = 0 ] && echo pass || echo warn)
check "host: the knob check matches /proc/sys/vm/unprivileged_userfaultfd ($(knob))" \
    test "$(result_of "$WORK/host.json" knob)" = "$expect_knob"
expect_kernel=$([ -c /dev/userfaultfd ] && echo pass || echo fail)
check "host: the kernel check matches /dev/userfaultfd" test "$(result_of "$WORK/host.json" kernel)" = "$expect_kernel"
# This host: QEMUs isolated by Yama, or by AppArmor/SELinux (and sVirt not
# turned off in qemu.conf), or not at all (a FAIL).
yama=$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || echo none)
lsm=no
grep -qs Y /sys/module/apparmor/parameters/enabled && lsm=yes
grep -qs 1 /sys/fs/selinux/enforce && lsm=yes
grep -Eqs '^[[:space:]]*(security_driver[[:space:]]*=.*"none"|security_default_confined[[:space:]]*=[[:space:]]*0)' /etc/libvirt/qemu.conf && lsm=no
expect_iso=$([ "$lsm" = yes ] || { [ "$yama" != none ] && [ "$yama" -ge 1 ]; } && echo pass || echo fail)
check "host: the isolation check matches Yama ($yama) and AppArmor/SELinux ($lsm): $expect_iso" \
    test "$(result_of "$WORK/host.json" isolation)" = "$expect_iso"
if [ -S /run/uffd-shim/admin.sock ]; then expect_broker=pass; else expect_broker=fail; fi
check "host: the broker check matches /run/uffd-shim/admin.sock" test "$(result_of "$WORK/host.json" broker)" = "$expect_broker"
"$UFFD_SHIMCTL" doctor --bogus >/dev/null 2>&1
check "an unknown doctor option is a usage error (2)" test $? = 2

# --- 2. A healthy temp root ---------------------------------------------------
R=$WORK/root
mkdir -p "$R"/proc/sys/kernel "$R"/proc/sys/vm "$R"/dev "$R"/etc/sysctl.d "$R"/usr/lib/sysctl.d \
    "$R"/etc/libvirt/hooks/qemu.d "$R"/usr/sbin "$R"/usr/bin "$R"/run/uffd-shim "$R"/proc/4242 "$WORK/libvirt"
chmod 0755 "$R"/run/uffd-shim "$WORK/libvirt"
echo "6.1.0-13-amd64" >"$R/proc/sys/kernel/osrelease"
echo 0 >"$R/proc/sys/vm/unprivileged_userfaultfd"
mkdir -p "$R/proc/sys/kernel/yama"
echo 1 >"$R/proc/sys/kernel/yama/ptrace_scope"
mknod -m 0600 "$R/dev/userfaultfd" c 10 257 || cp -a /dev/userfaultfd "$R/dev/" 2>/dev/null
printf '# defaults\n#vm.unprivileged_userfaultfd = 1\n' >"$R/etc/sysctl.conf"
printf '#!/bin/sh\necho "libvirtd (libvirt) 9.0.0"\n' >"$R/usr/sbin/libvirtd"
printf '#!/bin/sh\necho "QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7)"\n' >"$R/usr/bin/qemu-system-x86_64"
chmod 0755 "$R/usr/sbin/libvirtd" "$R/usr/bin/qemu-system-x86_64"
printf '#cgroup_device_acl = [\n#    "/dev/null", "/dev/userfaultfd"\n#]\n' >"$R/etc/libvirt/qemu.conf"
HOOK=$R/etc/libvirt/hooks/qemu.d/50-uffd-shim
install -m 0755 "$UFFD_SHIM_HOOK" "$HOOK"
touch -d '-1 hour' "$HOOK"
# A libvirtd (pid 4242) that started 60 s ago, after the hook.
hz=$(getconf CLK_TCK)
now=$(date +%s)
printf 'cpu  1 2 3 4\nbtime %s\n' $((now - 1000)) >"$R/proc/stat"
echo 4242 >"$R/run/libvirtd.pid"
echo libvirtd >"$R/proc/4242/comm"
printf '4242 (libvirtd) S 1 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 17 0 %s 1 1\n' $((940 * hz)) >"$R/proc/4242/stat"

cat >"$WORK/broker.conf" <<EOF
[broker]
socket=$R/run/uffd-shim/uffd.sock
admin-socket=$R/run/uffd-shim/admin.sock
state-dir=$R/run/uffd-shim
[qemu]
user=64055
libvirt-run-dir=$WORK/libvirt
emulators=${UFFD_PROBE:-/usr/bin/qemu-system-x86_64}
EOF
BROKER_LOG=$WORK/broker.log
start_broker "$WORK/broker.conf" || { not_ok "the broker starts under the temp root"; tap_end; }

# doctor_root NAME [ARGS...]: runs the doctor on $R, JSON in $WORK/NAME.json, text in NAME.txt.
doctor_root() {
    local n=$1; shift
    "$UFFD_SHIMCTL" --json doctor --root="$R" "$@" >"$WORK/$n.json" 2>"$WORK/$n.err"
    DRC=$?
    "$UFFD_SHIMCTL" doctor --root="$R" "$@" >"$WORK/$n.txt" 2>&1
    json_consistent "$WORK/$n.json" "$DRC" || { diag "$(cat "$WORK/$n.txt")"; return 1; }
}
all_pass() { ! grep -E '"result" : "(warn|fail)"' "$1"; }
# expect NAME ID LEVEL [DETAIL-SUBSTRING]: after doctor_root NAME.
expect() {
    local got detail
    got=$(result_of "$WORK/$1.json" "$2")
    detail=$(result_of "$WORK/$1.json" "$2" detail)
    [ "$got" = "$3" ] && { [ -z "${4:-}" ] || grep -qF -- "$4" <<<"$detail"; } ||
        { diag "$2: $got ($detail), expected $3 ${4:-}"; return 1; }
}

doctor_root healthy
check "healthy root: exit status 0" test "$DRC" = 0
check "healthy root: every check PASSes" all_pass "$WORK/healthy.json"
check "healthy root: text report well formed" report_well_formed "$WORK/healthy.txt"
check "healthy root: QEMU version read with --version" expect healthy qemu pass "version 7.2.19"
check "UFFD_SHIM_DOCTOR_ROOT works like --root" \
    bash -c 'UFFD_SHIM_DOCTOR_ROOT=$1 "$UFFD_SHIMCTL" doctor >/dev/null' _ "$R"

# --- 3. Broken states, one at a time -------------------------------------------
echo 1 >"$R/proc/sys/vm/unprivileged_userfaultfd"
doctor_root knob1
check "knob 1: WARN telling to set it to 0, no FAIL" \
    eval 'expect knob1 knob warn && [ "$DRC" = 0 ] && grep -q "set vm.unprivileged_userfaultfd=0" "$WORK/knob1.txt"'
echo 0 >"$R/proc/sys/vm/unprivileged_userfaultfd"

echo "vm.unprivileged_userfaultfd = 1" >"$R/usr/lib/sysctl.d/60-qemu-postcopy-migration.conf"
doctor_root sysctl-usr
check "libvirt's 60-qemu-postcopy-migration.conf: WARN naming the file" \
    expect sysctl-usr sysctl-files warn "/usr/lib/sysctl.d/60-qemu-postcopy-migration.conf sets"
check "... and the fix masks it in /etc/sysctl.d" \
    grep -q "ln -s /dev/null /etc/sysctl.d/60-qemu-postcopy-migration.conf" "$WORK/sysctl-usr.txt"
ln -s /dev/null "$R/etc/sysctl.d/60-qemu-postcopy-migration.conf"
doctor_root sysctl-masked
check "the same file masked by /etc/sysctl.d -> /dev/null: PASS" expect sysctl-masked sysctl-files pass
printf '# local\n-vm/unprivileged_userfaultfd=1\n' >"$R/etc/sysctl.d/90-local.conf"
doctor_root sysctl-etc
check "a file in /etc/sysctl.d (slash syntax): WARN naming it" \
    expect sysctl-etc sysctl-files warn "/etc/sysctl.d/90-local.conf sets"
rm -f "$R/etc/sysctl.d/90-local.conf" "$R/etc/sysctl.d/60-qemu-postcopy-migration.conf" \
    "$R/usr/lib/sysctl.d/60-qemu-postcopy-migration.conf"

printf 'cgroup_device_acl = [\n    "/dev/null", "/dev/kvm",\n    "/dev/userfaultfd"\n]\n' >>"$R/etc/libvirt/qemu.conf"
doctor_root acl
check "qemu.conf cgroup_device_acl with /dev/userfaultfd: WARN" expect acl libvirt-acl warn "lists /dev/userfaultfd"
printf '#cgroup_device_acl = []\n' >"$R/etc/libvirt/qemu.conf"
printf '#!/bin/sh\necho "libvirtd (libvirt) 10.1.0"\n' >"$R/usr/sbin/libvirtd"
doctor_root acl-default
check "libvirt 10.1 with the default ACL: WARN with how to restrict" \
    eval 'expect acl-default libvirt-acl warn "libvirt 10.1.0" && grep -q "set in /etc/libvirt/qemu.conf: cgroup_device_acl" "$WORK/acl-default.txt"'
printf 'cgroup_device_acl = [ "/dev/null", "/dev/kvm" ]\n' >"$R/etc/libvirt/qemu.conf"
doctor_root acl-restricted
check "libvirt 10.1 with an ACL without /dev/userfaultfd: PASS" expect acl-restricted libvirt-acl pass
printf '#!/bin/sh\necho "libvirtd (libvirt) 9.0.0"\n' >"$R/usr/sbin/libvirtd"

mv "$HOOK" "$WORK/hook.saved"
doctor_root nohook
check "missing hook: FAIL with 'hook install', exit status 1" \
    eval 'expect nohook hook fail "is missing" && [ "$DRC" = 1 ] && grep -q "uffd-shimctl hook install --reload" "$WORK/nohook.txt"'
echo "#!/bin/sh" >"$HOOK"
chmod 0755 "$HOOK"
doctor_root foreign-hook
check "someone else's file at the hook's name: FAIL" expect foreign-hook hook fail "not uffd-shim's hook"
mv "$WORK/hook.saved" "$HOOK"
touch "$HOOK"
doctor_root stale
check "libvirtd started before the hook: WARN with the SIGHUP hint" \
    eval 'expect stale hook-loaded warn "started before the hook" && grep -q "kill -HUP" "$WORK/stale.txt"'
install -m 0755 /dev/null "$R/etc/libvirt/hooks/qemu"
touch -d '-2 hours' "$R/etc/libvirt/hooks/qemu"
doctor_root other-hook
check "... unless another qemu hook was in place when it started: PASS" expect other-hook hook-loaded pass "another qemu hook"
rm -f "$R/etc/libvirt/hooks/qemu"
echo 4243 >"$R/run/libvirtd.pid"
doctor_root stale-pid
check "a stale libvirtd pid file: libvirtd counts as not running" expect stale-pid hook-loaded pass "not running"
echo 4242 >"$R/run/libvirtd.pid"
touch -d '-1 hour' "$HOOK"

chmod 0600 "$R/run/uffd-shim/uffd.sock"
doctor_root client-mode
check "client socket 0600: FAIL (QEMU cannot connect)" expect client-mode sockets fail "cannot connect"
chmod 0666 "$R/run/uffd-shim/uffd.sock"
chmod 0666 "$R/run/uffd-shim/admin.sock"
doctor_root admin-mode
check "admin socket 0666: WARN (expected root 0600)" expect admin-mode sockets warn "expected root, 0600"
chmod 0600 "$R/run/uffd-shim/admin.sock"
chmod 0777 "$R/run/uffd-shim"
doctor_root dir-mode
check "world-writable socket directory: FAIL" expect dir-mode sockets fail "could replace the sockets"
chmod 0755 "$R/run/uffd-shim"

printf '#!/bin/sh\nexec sleep 30\n' >"$R/usr/bin/qemu-system-x86_64"
t0=$(date +%s)
doctor_root qemu-hang --timeout-ms=500
t1=$(date +%s)
check "a QEMU whose --version hangs: WARN, bounded by the timeout" \
    eval 'expect qemu-hang qemu warn "did not answer in time" && [ $((t1 - t0)) -lt 10 ]'
printf '#!/bin/sh\n# uffd-shim-native-broker-v1 /run/uffd-shim/uffd.sock\necho "QEMU emulator version 10.0.2"\n' \
    >"$R/usr/bin/qemu-system-x86_64"
doctor_root qemu-native
if grep -q "not checked" <<<"$(result_of "$WORK/qemu-native.json" qemu detail)"; then
    ok "# SKIP the native-marker check is not built in"
else
    check "a QEMU carrying the native marker: native broker support yes" \
        expect qemu-native qemu pass "native broker support: yes"
fi
rm -f "$R/usr/bin/qemu-system-x86_64"
doctor_root noqemu
check "no configured emulator exists: FAIL" expect noqemu qemu fail "none of the [qemu] emulators"
printf '#!/bin/sh\necho "QEMU emulator version 7.2.19"\n' >"$R/usr/bin/qemu-system-x86_64"
chmod 0755 "$R/usr/bin/qemu-system-x86_64"

mkdir -p "$R/sys/module/apparmor/parameters" "$R/sys/kernel/security/apparmor" "$R/etc/apparmor.d/local/abstractions"
echo Y >"$R/sys/module/apparmor/parameters/enabled"
printf '/usr/sbin/libvirtd (enforce)\nlibvirt-1234 (enforce)\n' >"$R/sys/kernel/security/apparmor/profiles"
: >"$R/etc/apparmor.d/local/abstractions/libvirt-qemu"
doctor_root aa-norule
check "AppArmor on, QEMU confined, no QEMU rule: FAIL" \
    expect aa-norule apparmor fail "does not give /dev/userfaultfd and the broker's socket"
echo "include <abstractions/uffd-shim-qemu>" >"$R/etc/apparmor.d/local/abstractions/libvirt-qemu"
doctor_root aa-noprofile
check "AppArmor on, QEMU rule, broker profile not loaded: WARN" expect aa-noprofile apparmor warn "not loaded"
echo "uffd-shimd (enforce)" >>"$R/sys/kernel/security/apparmor/profiles"
doctor_root aa-ok
check "AppArmor on, QEMU rule and broker profile loaded: PASS" expect aa-ok apparmor pass
# The packaged drop-in: only when the abstraction includes libvirt-qemu.d.
: >"$R/etc/apparmor.d/local/abstractions/libvirt-qemu"
mkdir -p "$R/etc/apparmor.d/abstractions/libvirt-qemu.d"
cp "$UFFD_SHIM_SRCDIR/lsm/apparmor/uffd-shim-qemu" "$R/etc/apparmor.d/abstractions/libvirt-qemu.d/uffd-shim"
printf '  #include <local/abstractions/libvirt-qemu>\n' >"$R/etc/apparmor.d/abstractions/libvirt-qemu"
doctor_root aa-dropin-unused
check "AppArmor: a drop-in libvirt 9.0's abstraction does not include: FAIL with the include line" \
    expect aa-dropin-unused apparmor fail "does not give /dev/userfaultfd"
check "AppArmor: the fix names the drop-in and the include" \
    grep -q "include if exists <abstractions/libvirt-qemu.d>" "$WORK/aa-dropin-unused.txt"
echo "include if exists <abstractions/libvirt-qemu.d>" >"$R/etc/apparmor.d/local/abstractions/libvirt-qemu"
doctor_root aa-dropin
check "AppArmor: the drop-in included from the local abstraction: PASS, both paths work" \
    expect aa-dropin apparmor pass "the preload and a patched QEMU both work"
printf 'security_driver = "none"\n' >>"$R/etc/libvirt/qemu.conf"
: >"$R/etc/apparmor.d/local/abstractions/libvirt-qemu"
doctor_root aa-unconfined
check "AppArmor on but security_driver = none: PASS (QEMU not confined)" \
    expect aa-unconfined apparmor pass "does not confine QEMU"
sed -i '/^security_driver/d' "$R/etc/libvirt/qemu.conf"
echo 0 >"$R/proc/sys/kernel/yama/ptrace_scope"
doctor_root aa-yama0
check "AppArmor on (sVirt), Yama 0: QEMUs are isolated (PASS)" expect aa-yama0 isolation pass "AppArmor confines each QEMU"
echo 'security_driver = "none"' >>"$R/etc/libvirt/qemu.conf"
doctor_root aa-none
check "... unless qemu.conf says security_driver = \"none\": FAIL" expect aa-none isolation fail "sVirt is off"
sed -i '/^security_driver/d' "$R/etc/libvirt/qemu.conf"
echo N >"$R/sys/module/apparmor/parameters/enabled"
doctor_root yama0
check "no sVirt, Yama ptrace_scope 0: FAIL naming the sysctl, exit status 1" \
    eval 'expect yama0 isolation fail "Yama ptrace_scope 0" && [ "$DRC" = 1 ] && grep -q "kernel.yama.ptrace_scope=1" "$WORK/yama0.txt"'
rm -rf "$R/proc/sys/kernel/yama"
doctor_root noyama
check "no sVirt, no Yama in the kernel: FAIL naming AppArmor/SELinux" \
    expect noyama isolation fail "no Yama in the kernel"
mkdir -p "$R/proc/sys/kernel/yama"
echo 1 >"$R/proc/sys/kernel/yama/ptrace_scope"

mkdir -p "$R/sys/fs/selinux"
echo 1 >"$R/sys/fs/selinux/enforce"
printf '#!/bin/sh\nprintf "virt\\nsvirt\\n"\n' >"$R/usr/sbin/semodule"
chmod 0755 "$R/usr/sbin/semodule"
doctor_root se-missing
check "SELinux enforcing without the module: FAIL" expect se-missing selinux fail "not loaded"
check "SELinux: the fix loads both modules or names the patched QEMU" \
    bash -c 'grep -q "semodule -i /usr/share/selinux/packages/uffd-shim/uffd_shim.pp" "$1" &&
        grep -q "semodule -i /usr/share/selinux/packages/uffd-shim/uffd_shim_preload.pp" "$1" &&
        grep -q "natively patched QEMU" "$1"' _ "$WORK/se-missing.txt"
printf '#!/bin/sh\nprintf "uffd_shim\\t1.1\\nvirt\\n"\n' >"$R/usr/sbin/semodule"
doctor_root se-nopreload
check "SELinux enforcing, stock QEMU, no noatsecure module: FAIL (AT_SECURE drops the preload)" \
    expect se-nopreload selinux fail "AT_SECURE"
printf '#!/bin/sh\nprintf "uffd_shim\\t1.1\\nuffd_shim_preload\\t1.0\\nvirt\\n"\n' >"$R/usr/sbin/semodule"
doctor_root se-ok
check "SELinux enforcing with both modules loaded: PASS" expect se-ok selinux pass
rm -rf "$R/sys/fs/selinux" "$R/usr/sbin/semodule"

echo "5.15.0-91-generic" >"$R/proc/sys/kernel/osrelease"
doctor_root old-kernel
check "kernel 5.15: FAIL" expect old-kernel kernel fail "older than 6.1"
echo "6.1.0-13-amd64" >"$R/proc/sys/kernel/osrelease"
rm -f "$R/dev/userfaultfd"
: >"$R/dev/userfaultfd"
doctor_root not-chr
check "/dev/userfaultfd a regular file: FAIL" expect not-chr kernel fail "not a character device"
rm -f "$R/dev/userfaultfd"
mknod -m 0600 "$R/dev/userfaultfd" c 10 257 2>/dev/null || true

stop_pid "$BROKER_PID"
doctor_root broker-down
check "broker down: FAIL with how to start it, exit status 1" \
    eval 'expect broker-down broker fail "cannot reach the broker" && [ "$DRC" = 1 ] && grep -q "systemctl enable --now uffd-shimd.socket" "$WORK/broker-down.txt"'
tap_end

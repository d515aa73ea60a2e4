#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# LSM policy shipped in lsm/: AppArmor profiles parse (apparmor_parser -Q), the SELinux module compiles (checkmodule -M -m); offline only.
set -u
. "$(dirname "$0")/../lib/common.sh"

SRC=${UFFD_SHIM_SRCDIR:-$(cd "$TESTS_DIR/.." && pwd)}
# apparmor_parser: installed, or extracted (not installed, so nothing is
# loaded or enabled) by scripts/deps.sh into $UFFD_SHIM_APPARMOR_ROOT.
AA_ROOT=${UFFD_SHIM_APPARMOR_ROOT:-/var/cache/uffd-shim-ci/apparmor}
PARSER=$(command -v apparmor_parser || true)
[ -n "$PARSER" ] || [ ! -x /sbin/apparmor_parser ] || PARSER=/sbin/apparmor_parser
if [ -z "$PARSER" ] && [ -x "$AA_ROOT/sbin/apparmor_parser" ]; then
    PARSER=$AA_ROOT/sbin/apparmor_parser
    AA_ETC=$AA_ROOT/etc/apparmor.d
    FEATURES=$AA_ROOT/usr/share/apparmor-features/features
else
    AA_ETC=/etc/apparmor.d
    FEATURES=/usr/share/apparmor-features/features
fi
command -v checkmodule >/dev/null 2>&1 || skip_all "needs checkmodule (package checkpolicy; scripts/deps.sh)"
[ -n "$PARSER" ] || skip_all "needs apparmor_parser (package apparmor, extracted by scripts/deps.sh)"
[ -d "$AA_ETC/abstractions" ] && [ -d "$AA_ETC/tunables" ] || skip_all "needs AppArmor's abstractions and tunables ($AA_ETC)"
make_workdir

# aa_parse FILE...: parse only (-Q: no kernel, -K: no cache) against a private include tree.
INC=$WORK/apparmor.d
mkdir -p "$INC/local/abstractions"
cp -r "$AA_ETC/abstractions" "$AA_ETC/tunables" "$INC/"
[ -d "$AA_ETC/abi" ] && cp -r "$AA_ETC/abi" "$INC/"
aa_parse() {
    local f args=(-Q -K --base "$INC" -I "$INC")
    [ -f "$FEATURES" ] && args+=(-M "$FEATURES")
    for f in "$@"; do
        "$PARSER" "${args[@]}" "$f" >"$WORK/aa.log" 2>&1 || { diag "$(cat "$WORK/aa.log")"; return 1; }
    done
}

check "the broker profile usr.sbin.uffd-shimd parses" aa_parse "$SRC/lsm/apparmor/usr.sbin.uffd-shimd"

# The QEMU snippet, included the documented way from libvirt's local abstraction.
echo "include \"$SRC/lsm/apparmor/uffd-shim-qemu\"" >"$INC/local/abstractions/libvirt-qemu"
if [ -f /etc/apparmor.d/abstractions/libvirt-qemu ]; then
    cp /etc/apparmor.d/abstractions/libvirt-qemu "$INC/abstractions/libvirt-qemu"
    how="libvirt's abstractions/libvirt-qemu"
else
    printf '  include <local/abstractions/libvirt-qemu>\n' >"$INC/abstractions/libvirt-qemu"
    how="a stand-in libvirt-qemu abstraction (libvirt not installed)"
fi
cat >"$WORK/test-qemu" <<P
include <tunables/global>
profile uffd-shim-test-qemu /usr/bin/qemu-system-x86_64 {
  include <abstractions/libvirt-qemu>
}
P
check "the QEMU snippet parses inside $how" aa_parse "$WORK/test-qemu"
check "the QEMU snippet gives /dev/userfaultfd rw and maps the preload" \
    bash -c 'grep -q "^ *\/dev\/userfaultfd rw," "$1" && grep -q "libuffd-shim-preload.so mr," "$1" && grep -q "/run/uffd-shim/uffd.sock rw," "$1"' _ "$SRC/lsm/apparmor/uffd-shim-qemu"
sed 's|/dev/userfaultfd rw,|/dev/userfaultfd rw|' "$SRC/lsm/apparmor/uffd-shim-qemu" >"$WORK/broken"
echo "include \"$WORK/broken\"" >"$INC/local/abstractions/libvirt-qemu"
if aa_parse "$WORK/test-qemu" 2>/dev/null; then not_ok "a broken snippet is rejected"; else ok "a broken snippet is rejected by apparmor_parser"; fi

# SELinux: compile the module as a policy module (-M -m), names must match.
cp "$SRC/lsm/selinux/uffd_shim.te" "$SRC/lsm/selinux/uffd_shim.fc" "$WORK/"
check "uffd_shim.te compiles with checkmodule -M -m" \
    bash -c 'cd "$1" && checkmodule -M -m -o uffd_shim.mod uffd_shim.te >checkmodule.log 2>&1 || { sed "s/^/# /" checkmodule.log; exit 1; }' _ "$WORK"
check "the module has the rules QEMU needs (fd use, chr_file, connectto)" \
    bash -c 'grep -q "^allow svirt_t uffd_shimd_t:fd use;" "$1" && grep -q "^allow svirt_t userfaultfd_device_t:chr_file { read write ioctl" "$1" && grep -q "^allow svirt_t uffd_shimd_t:unix_stream_socket { connectto" "$1"' _ "$WORK/uffd_shim.te"
mkdir -p "$WORK/bad"
sed 's/^allow svirt_t uffd_shimd_t:fd use;/allow svirt_t no_such_type_t:fd use;/' "$WORK/uffd_shim.te" >"$WORK/bad/uffd_shim.te"
check "an undeclared type is rejected (checkmodule really checks)" \
    bash -c 'cd "$1/bad" && ! checkmodule -M -m -o uffd_shim.mod uffd_shim.te >/dev/null 2>&1' _ "$WORK"
check "file contexts label the broker and its run directory" \
    bash -c 'grep -q "^/usr/sbin/uffd-shimd.*uffd_shimd_exec_t" "$1" && grep -q "^/run/uffd-shim(/\.\*)?.*uffd_shimd_var_run_t" "$1"' _ "$SRC/lsm/selinux/uffd_shim.fc"
tap_end

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# LSM policy shipped in lsm/: AppArmor rules parse (apparmor_parser -Q) where libvirt includes them; the SELinux modules compile and link into Debian's reference policy; offline only.
#
# What this proves: the AppArmor drop-in and the broker profile are valid
# policy for Debian's parser, inside libvirt's real abstraction, at the path
# the abstraction includes; the SELinux modules compile, package, link and
# expand against a complete real policy (Debian's refpolicy, with stand-ins
# for the Fedora/RHEL types it lacks: virtqemud_t, svirt_tcg_t,
# userfaultfd_device_t), and the expanded policy holds each rule both paths
# need (svirt_t and svirt_tcg_t: sock_file write, connectto and fd use on the
# broker, the device's chr_file permissions) and the preload path's
# noatsecure from virtqemud_t and virtd_t, and none where a type is missing.
# What it cannot prove: that a running kernel with Fedora's or RHEL's own
# policy (its MCS constraints, booleans, dontaudits, the actual label of
# /dev/userfaultfd) lets a real confined QEMU receive the device, nor that a
# kernel with AF_UNIX mediation enforces exactly these AppArmor rules: no
# LSM is active on the test machines.
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

# The QEMU drop-in where the package installs it,
# abstractions/libvirt-qemu.d/uffd-shim, reached as libvirt 9.0's
# abstraction does it with the package's line in the local file (Debian 12),
# and as libvirt >= 9.x upstream's own "include if exists
# <abstractions/libvirt-qemu.d>" does it (Debian 13).
mkdir -p "$INC/abstractions/libvirt-qemu.d"
cp "$SRC/lsm/apparmor/uffd-shim-qemu" "$INC/abstractions/libvirt-qemu.d/uffd-shim"
if [ -f /etc/apparmor.d/abstractions/libvirt-qemu ]; then
    cp /etc/apparmor.d/abstractions/libvirt-qemu "$INC/abstractions/libvirt-qemu"
    how="libvirt's own abstractions/libvirt-qemu"
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
# aa_expanded: the test profile with every include expanded (-p).
aa_expanded() {
    local args=(-p -K --base "$INC" -I "$INC")
    [ -f "$FEATURES" ] && args+=(-M "$FEATURES")
    "$PARSER" "${args[@]}" "$WORK/test-qemu" 2>"$WORK/aa.log"
}
aa_has_rule() { aa_expanded | grep -q "^ *\/dev\/userfaultfd rw,"; }
aa_lacks_rule() { ! aa_has_rule; }
# The line the package's postinst adds to the local file (debian/uffd-shim.postinst).
local_line=$(sed -n "s/^LOCAL_LINE='\(.*\)'$/\1/p" "$SRC/debian/uffd-shim.postinst")
check "the package's include line is 'include if exists <abstractions/libvirt-qemu.d>'" \
    test "$local_line" = "include if exists <abstractions/libvirt-qemu.d>"
: >"$INC/local/abstractions/libvirt-qemu"
if ! grep -q "abstractions/libvirt-qemu.d" "$INC/abstractions/libvirt-qemu"; then
    check "without the package's line, $how does not reach the drop-in" \
        aa_lacks_rule
fi
printf '# uffd-shim: its AppArmor drop-in (removed when the package is)\n%s\n' "$local_line" \
    >"$INC/local/abstractions/libvirt-qemu"
check "the drop-in parses inside $how, included through the local file" aa_parse "$WORK/test-qemu"
check "the expanded QEMU profile has the drop-in's rules" aa_has_rule
# Upstream's own include of the directory (libvirt 11.x): no local line needed.
cp "$INC/abstractions/libvirt-qemu" "$WORK/abs-9.0"
printf '  include if exists <abstractions/libvirt-qemu.d>\n  include if exists <local/abstractions/libvirt-qemu>\n' \
    >"$INC/abstractions/libvirt-qemu"
: >"$INC/local/abstractions/libvirt-qemu"
aa_parse_and_has() { aa_parse "$WORK/test-qemu" && aa_has_rule; }
check "the drop-in parses and is reached with upstream's libvirt-qemu.d include" aa_parse_and_has
cp "$WORK/abs-9.0" "$INC/abstractions/libvirt-qemu"
printf '%s\n' "$local_line" >"$INC/local/abstractions/libvirt-qemu"
check "the QEMU drop-in gives /dev/userfaultfd rw, the socket, and maps the preload" \
    bash -c 'grep -q "^ *\/dev\/userfaultfd rw," "$1" && grep -q "libuffd-shim-preload.so mr," "$1" && grep -q "/run/uffd-shim/uffd.sock rw," "$1"' _ "$SRC/lsm/apparmor/uffd-shim-qemu"
sed 's|/dev/userfaultfd rw,|/dev/userfaultfd rw|' "$SRC/lsm/apparmor/uffd-shim-qemu" >"$INC/abstractions/libvirt-qemu.d/uffd-shim"
if aa_parse "$WORK/test-qemu" 2>/dev/null; then not_ok "a broken drop-in is rejected"; else ok "a broken drop-in is rejected by apparmor_parser"; fi
cp "$SRC/lsm/apparmor/uffd-shim-qemu" "$INC/abstractions/libvirt-qemu.d/uffd-shim"
check "the broker profile lets it log to the journal" grep -q "^ */run/systemd/journal/socket w," "$SRC/lsm/apparmor/usr.sbin.uffd-shimd"

# SELinux: compile the modules as policy modules (-M -m), names must match.
SE=$SRC/lsm/selinux
cp "$SE/uffd_shim.te" "$SE/uffd_shim_preload.te" "$SE/uffd_shim.fc" "$WORK/"
se_build() { # NAME [-f FC]: NAME.te -> NAME.pp in $WORK
    local n=$1; shift
    (cd "$WORK" && checkmodule -M -m -o "$n.mod" "$n.te" >"$n.log" 2>&1 &&
        semodule_package -o "$n.pp" -m "$n.mod" "$@" >>"$n.log" 2>&1) || { sed "s/^/# /" "$WORK/$n.log"; return 1; }
}
check "uffd_shim.te compiles with checkmodule -M -m and packages with its file contexts" se_build uffd_shim -f uffd_shim.fc
check "uffd_shim_preload.te compiles and packages" se_build uffd_shim_preload
check "the modules declare the rules QEMU needs (fd use, chr_file, connectto, noatsecure)" \
    bash -c 'grep -q "allow svirt_t uffd_shimd_t:fd use;" "$1" && grep -q "allow svirt_t userfaultfd_device_t:chr_file { getattr read write ioctl }" "$1" &&
        grep -q "allow svirt_t uffd_shimd_t:unix_stream_socket connectto;" "$1" && grep -q "allow virtqemud_t svirt_t:process noatsecure;" "$2"' \
    _ "$WORK/uffd_shim.te" "$WORK/uffd_shim_preload.te"
mkdir -p "$WORK/bad"
sed 's/\binit_t\b/no_such_init_t/g' "$WORK/uffd_shim.te" >"$WORK/bad/uffd_shim.te"
check "file contexts label the broker and its run directory" \
    bash -c 'grep -q "^/usr/sbin/uffd-shimd.*uffd_shimd_exec_t" "$1" && grep -q "^/run/uffd-shim(/\.\*)?.*uffd_shimd_var_run_t" "$1"' _ "$WORK/uffd_shim.fc"

# Link and expand against Debian's reference policy (scripts/deps.sh
# extracts selinux-policy-default; semodule-utils and setools installed).
POL=${UFFD_SHIM_SELINUX_POLICY_ROOT:-/var/cache/uffd-shim-ci/selinux-policy}/usr/share/selinux/default
if ! command -v semodule_link >/dev/null || ! command -v semodule_expand >/dev/null || ! command -v sesearch >/dev/null; then
    not_ok "semodule_link, semodule_expand and sesearch are needed (semodule-utils, setools; scripts/deps.sh)"
    tap_end
fi
[ -f "$POL/base.pp.bz2" ] || { not_ok "Debian's policy modules are missing in $POL (scripts/deps.sh)"; tap_end; }
mkdir -p "$WORK/pol"
for f in "$POL"/*.pp.bz2; do bunzip2 -c "$f" >"$WORK/pol/$(basename "$f" .bz2)"; done
# Stand-ins for what Fedora and RHEL have and refpolicy 2.20221101 lacks.
cat >"$WORK/uffd_shim_standin.te" <<'T'
module uffd_shim_standin 1.0;
require { attribute domain; attribute file_type; role system_r; }
type virtqemud_t;
type svirt_tcg_t;
type userfaultfd_device_t;
typeattribute virtqemud_t domain;
typeattribute svirt_tcg_t domain;
typeattribute userfaultfd_device_t file_type;
role system_r types { virtqemud_t svirt_tcg_t };
T
se_build uffd_shim_standin >/dev/null
mods=()
for f in "$WORK"/pol/*.pp; do [ "$(basename "$f")" = base.pp ] || mods+=("$f"); done
# link_expand OUT MODULE.pp...: Debian's base and modules plus ours, expanded to a kernel policy.
link_expand() {
    local out=$1; shift
    semodule_link -o "$WORK/$out.lnk" "$WORK/pol/base.pp" "${mods[@]}" "$@" >"$WORK/$out.log" 2>&1 &&
        semodule_expand "$WORK/$out.lnk" "$WORK/$out.bin" >>"$WORK/$out.log" 2>&1 &&
        sesearch -A "$WORK/$out.bin" >"$WORK/$out.rules" 2>>"$WORK/$out.log" ||
        { grep -v "loading package" "$WORK/$out.log" | sed "s/^/# /"; return 1; }
}
t0=$(date +%s)
check "the modules link into Debian's refpolicy (${#mods[@]} modules) with the stand-in types, and expand" \
    link_expand full "$WORK/uffd_shim_standin.pp" "$WORK/uffd_shim.pp" "$WORK/uffd_shim_preload.pp"
diag "link and expand: $(( $(date +%s) - t0 )) s"
# has POLICY SOURCE TARGET CLASS PERM...: the expanded policy's allow rules
# (sesearch -A, as written: type or attribute names) hold one with all PERMs.
has() {
    local pol=$1 src=$2 tgt=$3 cls=$4 p out
    shift 4
    out=$(grep "^allow $src $tgt:$cls " "$WORK/$pol.rules")
    for p in "$@"; do grep -qE "[ {]$p[ };]" <<<"$out" || { diag "$src $tgt:$cls lacks $p: $out"; return 1; }; done
}
for d in svirt_t svirt_tcg_t; do
    check "both paths: $d may write the broker's socket file" has full "$d" uffd_shimd_var_run_t sock_file write
    check "both paths: $d may connect to the broker's socket (unix_stream_socket connectto)" has full "$d" uffd_shimd_t unix_stream_socket connectto
    check "both paths: $d may use the fd the broker opened (fd use)" has full "$d" uffd_shimd_t fd use
    check "both paths: $d may use the device (chr_file getattr read write ioctl)" has full "$d" userfaultfd_device_t chr_file getattr read write ioctl
    check "$d may not open the device itself" bash -c '! grep -E "^allow $2 userfaultfd_device_t:chr_file .*[ {]open[ };]" "$1"' _ "$WORK/full.rules" "$d"
    for s in virtqemud_t virtd_t; do
        check "preload path: noatsecure from $s to $d" has full "$s" "$d" process noatsecure
    done
done
check "the broker's domain is permissive" bash -c 'seinfo "$1" --permissive | grep -qw uffd_shimd_t' _ "$WORK/full.bin"
check "a module requiring a type the policy lacks does not link (the link really checks)" \
    bash -c 'cd "$1/bad" && checkmodule -M -m -o uffd_shim.mod uffd_shim.te >/dev/null 2>&1 && semodule_package -o uffd_shim.pp -m uffd_shim.mod &&
        ! semodule_link -o x.lnk "$1/pol/base.pp" uffd_shim.pp >/dev/null 2>&1' _ "$WORK"
# Without the stand-ins (Debian's policy as it is): the optional blocks for
# the missing types drop out, the rest stays.
check "without the Fedora types: links into Debian's refpolicy alone" link_expand plain "$WORK/uffd_shim.pp" "$WORK/uffd_shim_preload.pp"
check "without the Fedora types: svirt_t still reaches the broker" has plain svirt_t uffd_shimd_t fd use
check "without the Fedora types: virtd_t to svirt_t noatsecure" has plain virtd_t svirt_t process noatsecure
check "without the Fedora types: no rule names them" bash -c '! grep -qE "virtqemud_t|svirt_tcg_t|userfaultfd_device_t" "$1"' _ "$WORK/plain.rules"
tap_end

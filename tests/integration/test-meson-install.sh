#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What `meson install` ships: binaries, versioned library ABI, pkg-config file, libc-only preload, docs.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_cmd meson readelf cc pkg-config
[ -n "${MESON_BUILD_ROOT:-}" ] || skip_all "run from meson test (needs MESON_BUILD_ROOT)"
make_workdir
D=$WORK/dest
meson install -C "$MESON_BUILD_ROOT" --destdir "$D" --no-rebuild >"$WORK/install.log" 2>&1 ||
    { echo "1..1"; echo "not ok 1 - meson install"; sed 's/^/# /' "$WORK/install.log"; exit 1; }
prefix=$(meson introspect "$MESON_BUILD_ROOT" --buildoptions | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
R=$D$prefix
find_one() { find "$R" -path "$1" | head -n 1; }

# Only a package (prefix /usr) puts the units where systemd looks; any other
# prefix keeps every file under it (a private install never writes /lib).
if [ "$prefix" != /usr ]; then
    check "an install into $prefix writes nothing outside it" \
        test -z "$(cd "$D" && find . ! -type d | sed 's|^\.||' | grep -v "^$prefix/")"
    check "the systemd units and tmpfiles entry go under the prefix" \
        test -f "$R/lib/systemd/system/uffd-shimd.service" -a -f "$R/lib/tmpfiles.d/uffd-shim.conf"
fi

for f in sbin/uffd-shimd sbin/uffd-shimctl libexec/uffd-shim-hook include/uffd-shim/uffd-shim.h include/uffd-shim/uffd-shim-proto.h; do
    check "installs $f" test -e "$R/$f"
done
lib=$(find_one "*/libuffd-shim.so.0*")
pre=$(find_one "*/uffd-shim/libuffd-shim-preload.so")
pc=$(find_one "*/pkgconfig/libuffd-shim.pc")
check "installs libuffd-shim.so.0 and its pkg-config file" test -n "$lib" -a -n "$pc"
check "the library exports exactly its four versioned symbols (UFFD_SHIM_0.1)" \
    test "$(readelf --dyn-syms -W "$lib" | awk '$7 != "UND" && $8 ~ /@@UFFD_SHIM_0.1/ {print $8}' | sort | tr '\n' ' ')" = \
         "uffd_shim_get_device@@UFFD_SHIM_0.1 uffd_shim_put_device@@UFFD_SHIM_0.1 uffd_shim_strreason@@UFFD_SHIM_0.1 uffd_shim_userfaultfd@@UFFD_SHIM_0.1 "
check "the preload needs nothing but libc" test "$(readelf -d "$pre" | awk '/NEEDED/ {print $5}' | tr '\n' ' ')" = "[libc.so.6] "
check "the preload exports only the interposed entry point, syscall" \
    test "$(readelf --dyn-syms -W "$pre" | awk '$7 != "UND" && $5 == "GLOBAL" && $4 == "FUNC" {print $8}' | sort | tr '\n' ' ')" = \
         "syscall "
cat >"$WORK/use.c" <<'C'
#include <uffd-shim/uffd-shim.h>
#include <stdio.h>
int main(void) { puts(uffd_shim_strreason(UFFD_SHIM_R_NO_BROKER)); return 0; }
C
out=$(PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR=$D sh -c \
      'cc "$1" -o "$2" $(pkg-config --cflags --libs libuffd-shim)' _ "$WORK/use.c" "$WORK/use" 2>&1 &&
      LD_LIBRARY_PATH=$(dirname "$lib") "$WORK/use")
check "a program builds against the installed library with pkg-config and runs" \
    grep -q "the uffd-shim broker socket could not be reached" <<<"$out"
for m in man8/uffd-shimd.8 man8/uffd-shimctl.8 man8/uffd-shim-hook.8 man5/uffd-shim.conf.5 man3/libuffd-shim.3; do
    check "installs the man page $m" test -e "$(find_one "*/man/$m")"
done
check "installs the example configuration" test -n "$(find "$D" -name uffd-shim.conf.example)"
tap_end

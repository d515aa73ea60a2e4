#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Lints the man pages (groff warnings, as lintian does) and checks their required sections.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_cmd groff
shopt -s nullglob
pages=("$UFFD_SHIM_SRCDIR"/docs/man/*.[1-8])
[ ${#pages[@]} -gt 0 ] || { echo "1..1"; echo "not ok 1 - no man pages found"; exit 1; }
for p in "${pages[@]}"; do
    n=$(basename "$p")
    out=$(LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 "$p" 2>&1)
    check "$n: groff reports no warnings" test -z "$out"
    [ -z "$out" ] || diag "$out"
    for s in NAME SYNOPSIS DESCRIPTION EXAMPLES SECURITY "SEE ALSO"; do
        check "$n: has a $s section" grep -q "^\.SH \"\?$s\"\?$" "$p"
    done
done
# Every documented configuration key exists in the parser, and vice versa.
keys_doc=$(grep -oE '^\.BR [a-z\\-]+ " =' "$UFFD_SHIM_SRCDIR/docs/man/uffd-shim.conf.5" | awk '{print $2}' | tr -d '\\' | sort)
keys_src=$(grep -oE '\{ "(broker|qemu|grants|hook|backend)", "[a-z-]+"' "$UFFD_SHIM_SRCDIR/shim/config.c" | awk -F'"' '{print $4}' | sort)
check "uffd-shim.conf(5) documents exactly the keys the parser knows" test "$keys_doc" = "$keys_src"
[ "$keys_doc" = "$keys_src" ] || diag "$(diff <(echo "$keys_doc") <(echo "$keys_src"))"
tap_end

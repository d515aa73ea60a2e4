#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The broker's seccomp allow-list is exactly the system calls its code declares it makes.
#
# Every system call the broker makes once its filter is installed is
# declared beside the code that makes it, in a comment of the form
#     /* #syscalls: name name ... (remarks in parentheses are ignored) */
# (calls GLib and glibc make on its behalf where the loop or the library is
# set up). The allow-list is the quoted names of allowed[] in
# shim/isolation.c plus its SCMP_SYS (name) rules. A name allowed but
# declared nowhere, or declared but not allowed, fails here by name.
set -u
. "$(dirname "$0")/../lib/common.sh"

shim=$UFFD_SHIM_SRCDIR/shim
iso=$shim/isolation.c

declared=$(grep -ho '#syscalls:[^*]*' "$shim"/*.c "$shim"/*.h |
    sed -e 's/^#syscalls://' -e 's/([^)]*)//g' | tr -s ' \t' '\n' | sed '/^$/d' | sort -u)
allowed=$( {
    sed -n '/^static const char \*const allowed\[\] = {/,/^};/p' "$iso" |
        grep -v '^ *\(/\*\|\*\)' | grep -o '"[^"]*"' | tr -d '"'
    grep -o 'SCMP_SYS ([a-z0-9_]*)' "$iso" | sed 's/^SCMP_SYS (\(.*\))$/\1/'
} | sort -u)

# The extraction itself still finds the lists (a changed layout must not
# turn this test into one that compares two empty sets).
check "the allow-list is found in shim/isolation.c ($(wc -w <<<"$allowed") names)" \
    test "$(wc -w <<<"$allowed")" -ge 40
check "#syscalls declarations are found in shim/ ($(wc -w <<<"$declared") names)" \
    test "$(wc -w <<<"$declared")" -ge 40

bad=$(grep -v '^[a-z_][a-z0-9_]*$' <<<"$declared" | tr '\n' ' ')
check "every declared name is a system call name${bad:+ (not: $bad)}" test -z "$bad"

undeclared=$(comm -23 <(echo "$allowed") <(echo "$declared"))
for n in $undeclared; do not_ok "allowed in shim/isolation.c but declared nowhere: $n"; done
[ -n "$undeclared" ] || ok "every allowed system call is declared beside the code that makes it"

unallowed=$(comm -13 <(echo "$allowed") <(echo "$declared"))
for n in $unallowed; do not_ok "declared but not in the allow-list of shim/isolation.c: $n"; done
[ -n "$unallowed" ] || ok "every declared system call is in the allow-list"
tap_end

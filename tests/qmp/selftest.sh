#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Self-test of the postcopy driver: a full postcopy must pass, a user-mode-only uffd must be caught.
#
# Usage: selftest.sh [-n RUNS] [-q] [-k] [-w WORKDIR] [-- EXTRA postcopy.py ARGS]
#   -n RUNS   run each case RUNS times (default 1)
#   -q        quick: start postcopy right after migration setup
#             (--switch-after-syncs 1) instead of after the first full
#             precopy pass (about 20-35 s at 3 MB/s)
#   -k        keep the work directory
#   -w DIR    work directory (default: a new one under ${TMPDIR:-/tmp})
#
# Needs root, or at least CAP_SYS_PTRACE, with vm.unprivileged_userfaultfd=0:
# the positive case runs a stock QEMU whose userfaultfd must be full-mode.
# The negative case preloads force-umo.so into the destination, which makes
# its userfaultfd UFFD_USER_MODE_ONLY; postcopy.py --expect-dma-error then
# passes only if the guest saw a failed DMA on the destination.
# Prints "N passed, N failed" last; exits non-zero if any run failed.
set -u

here=$(cd "$(dirname "$0")" && pwd)
guest_dir=$here/../guest
runs=1
quick=
keep=
workdir=
while getopts n:qkw: opt; do
    case $opt in
    n) runs=$OPTARG ;;
    q) quick="--switch-after-syncs 1" ;;
    k) keep=1 ;;
    w) workdir=$OPTARG ;;
    *) sed -n '4,10p' "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift

created=
if [ -z "$workdir" ]; then
    workdir=$(mktemp -d "${TMPDIR:-/tmp}/uffd-postcopy.XXXXXX") || exit 1
    chmod 755 "$workdir"
    created=1
fi
mkdir -p "$workdir"
cleanup() {
    if [ -n "$created" ] && [ -z "$keep" ]; then
        rm -rf "$workdir"
    elif [ -n "$keep" ]; then
        echo "selftest: kept $workdir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$guest_dir/build-guest.sh" "$workdir/guest.img" >/dev/null || exit 1
${CC:-cc} -Wall -Wextra -O2 -shared -fPIC -o "$workdir/force-umo.so" \
    "$guest_dir/force-umo.c" -ldl || exit 1

passed=0
failed=0
i=1
while [ "$i" -le "$runs" ]; do
    for case in full umo; do
        if [ $case = full ]; then
            # shellcheck disable=SC2086 # $quick is empty or two words
            python3 "$here/postcopy.py" --disk "$workdir/guest.img" \
                --workdir "$workdir/run-$case" $quick \
                --json "$workdir/$case-$i.json" "$@" >"$workdir/$case-$i.log" 2>&1
        else
            # shellcheck disable=SC2086
            python3 "$here/postcopy.py" --disk "$workdir/guest.img" \
                --workdir "$workdir/run-$case" $quick \
                --dst-prefix "env LD_PRELOAD=$workdir/force-umo.so" \
                --expect-dma-error \
                --json "$workdir/$case-$i.json" "$@" >"$workdir/$case-$i.log" 2>&1
        fi
        rc=$?
        echo "selftest: run $i, $case uffd: $(tail -n 1 "$workdir/$case-$i.log")"
        if [ $rc -eq 0 ]; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
            keep=1
        fi
    done
    i=$((i + 1))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

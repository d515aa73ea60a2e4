# SPDX-License-Identifier: GPL-2.0-or-later
# knob.sh - bash library: run one command with vm.unprivileged_userfaultfd at 1, then restore it.
# shellcheck shell=bash
#
# The benchmarks compare the shim against what an operator would do instead,
# which for the raw-syscall and plain-QEMU figures means the knob at 1. The
# project itself never writes the knob; only these benchmark windows do, and
# each one restores the value it found, on success, failure or signal.
#
# with_knob_one COMMAND...   runs COMMAND (in a subshell: it cannot set the
#                            caller's variables) with the knob at 1 and
#                            returns its status. While the knob is 1 it holds an exclusive
#                            flock on $UFFD_KNOB_LOCK, so runs that need the
#                            knob at 0 (the tests) can wait on the same lock
#                            with `flock -s`.

UFFD_KNOB=/proc/sys/vm/unprivileged_userfaultfd
UFFD_KNOB_LOCK=${UFFD_KNOB_LOCK:-/run/lock/uffd-shim-knob.lock}

knob_value() { cat "$UFFD_KNOB"; }

with_knob_one() {
    mkdir -p "$(dirname "$UFFD_KNOB_LOCK")" || return 1
    (
        exec 9>"$UFFD_KNOB_LOCK" && flock -x 9 || exit 1
        saved=$(knob_value) || exit 1
        # A subshell of its own: its EXIT trap restores the knob however the
        # command ends, and the caller's traps are left alone.
        trap 'echo "$saved" >"$UFFD_KNOB"' EXIT
        trap 'exit 130' INT TERM HUP
        echo 1 >"$UFFD_KNOB" || exit 1
        "$@"
    )
}

#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Load: concurrent clients against a broker with a granted fake domain; replies, fds and RSS checked.
#
# LOAD_REQUESTS (default 10000) and LOAD_CONCURRENCY (default 256) size the
# run; docs/performance.md records a 100,000-request run. The broker runs at
# systemd's default open-file limit (1024, here not to be raised); its CPU
# and log volume over the run are printed.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_device
require_knob_zero
require_cmd python3 prlimit
make_workdir
# The "QEMU" is the python interpreter running the client part, as the
# QEMU uid: the system's, not one in root's home (pyenv and the like).
py=$(readlink -f /usr/bin/python3 2>/dev/null || readlink -f "$(command -v python3)")
[ -x "$py" ] && setpriv --reuid=64055 --regid=64055 --clear-groups "$py" -c '' 2>/dev/null ||
    skip_all "needs a python3 that uid 64055 can run"

BROKER_EMULATORS=$py BROKER_TIMEOUT_MS=5000 write_broker_config "$WORK/broker.conf"
# The state file (saved after each batch of hand-outs, not synced) on tmpfs, as
# /run/uffd-shim is on a real host.
state=$(mktemp -d /dev/shm/uffd-shim-load.XXXXXX)
on_exit "rm -rf '$state'"
sed -i "s|^state-dir=.*|state-dir=$state|" "$WORK/broker.conf"
BROKER_NOFILE=1024:1024 start_broker "$WORK/broker.conf" || { echo "1..1"; echo "not ok 1 - broker starts"; exit 1; }
install -m 0755 "$TESTS_DIR/load/load-broker.py" "$WORK/load-broker.py"
install -m 0755 "$TESTS_DIR/integration/fake-libvirt-launch.py" "$WORK/fake-libvirt-launch.py"
usage_mark
"$py" "$WORK/load-broker.py" --socket "$WORK/run/uffd.sock" --admin-socket "$WORK/run/admin.sock" \
    --broker-pid "$BROKER_PID" --run-dir "$WORK/libvirt" --launcher "$WORK/fake-libvirt-launch.py" \
    --requests "${LOAD_REQUESTS:-10000}" --concurrency "${LOAD_CONCURRENCY:-256}"
rc=$?
diag "broker over the run: $(usage_cpu)% of a core, $(usage_log) log lines"
exit $rc

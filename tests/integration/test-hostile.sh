#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Hostile clients: malformed, oversized, fd-carrying and silent clients are dropped; nothing leaks.
#
# The broker runs at systemd's default open-file limit (1024, here not to be
# raised); its CPU and log volume over the run are printed.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_cmd python3 prlimit
make_workdir
BROKER_TIMEOUT_MS=500 write_broker_config "$WORK/broker.conf"
if ! BROKER_NOFILE=1024:1024 start_broker "$WORK/broker.conf"; then
    echo "1..1"; echo "not ok 1 - broker starts"; exit 1
fi
usage_mark
python3 "$TESTS_DIR/integration/hostile-clients.py" "$WORK/run/uffd.sock" "$BROKER_PID" --rounds "${HOSTILE_ROUNDS:-1000}"
rc=$?
kill -0 "$BROKER_PID" 2>/dev/null || { echo "# broker died"; rc=1; }
kill -0 "$BROKER_PID" 2>/dev/null &&
    diag "broker over the run: $(usage_cpu)% of a core, $(usage_log) log lines" \
        "drops logged one by one: $(grep -c "dropped uffd client" "$BROKER_LOG"), summaries: $(grep -c "more in the last" "$BROKER_LOG")"
exit $rc

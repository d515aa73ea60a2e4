#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Hostile clients: malformed, oversized, fd-carrying and silent clients are dropped; nothing leaks.
set -u
. "$(dirname "$0")/../lib/common.sh"

require_root
require_cmd python3
make_workdir
BROKER_TIMEOUT_MS=500 write_broker_config "$WORK/broker.conf"
if ! start_broker "$WORK/broker.conf"; then
    echo "1..1"; echo "not ok 1 - broker starts"; exit 1
fi
python3 "$TESTS_DIR/integration/hostile-clients.py" "$WORK/run/uffd.sock" "$BROKER_PID" --rounds "${HOSTILE_ROUNDS:-1000}"
rc=$?
kill -0 "$BROKER_PID" 2>/dev/null || { echo "# broker died"; rc=1; }
grep -c "dropped uffd client" "$BROKER_LOG" | sed 's/^/# drops logged: /'
exit $rc

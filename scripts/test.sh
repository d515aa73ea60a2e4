#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds uffd-shim and runs every test suite; ends with "N passed, N failed".
#
# Run as root on Debian 12 for the full suite (integration and end-to-end
# tests need root, /dev/userfaultfd, QEMU and libvirt); as another user the
# suites that need them skip. UFFD_SHIM_REQUIRE_ALL=1 (set in CI) turns
# those skips into failures. Extra arguments go to `meson test` (e.g.
# --suite unit).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ "$(id -u)" = 0 ]; then
  bash scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }
fi
build=${BUILD_DIR:-build-test}
knob_before=$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null || echo "?")
echo "vm.unprivileged_userfaultfd before the tests: $knob_before"
if [ ! -d "$build" ]; then
  meson setup "$build" >"$top/meson-setup.log" 2>&1 || { cat "$top/meson-setup.log"; echo "0 passed, 1 failed"; exit 1; }
fi
ninja -C "$build" || { echo "0 passed, 1 failed"; exit 1; }
meson test -C "$build" --print-errorlogs --num-processes 1 "$@"
rc=$?
knob_after=$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null || echo "?")
echo "vm.unprivileged_userfaultfd after the tests: $knob_after"
python3 - "$build/meson-logs/testlog.json" "$knob_before" "$knob_after" <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif r == "SKIP":
        skipped += 1
    else:
        failed += 1
if sys.argv[2] != sys.argv[3] or sys.argv[3] != "0":
    print("the knob changed or is not 0: %s -> %s" % (sys.argv[2], sys.argv[3]))
    failed += 1
print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed else 0)
PY
summary=$?
[ $rc -eq 0 ] && exit $summary
exit 1

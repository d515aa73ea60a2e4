#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds uffd-shim and runs every test suite; ends with the failed tests and "N passed, N failed".
#
# Run as root on Debian 12 for the full suite (integration and end-to-end
# tests need root, /dev/userfaultfd, QEMU and libvirt); as another user the
# suites that need them skip. UFFD_SHIM_REQUIRE_ALL=1 (set in CI) turns
# those skips into failures. Extra arguments go to `meson test` (e.g.
# --suite unit). Without arguments the suites are also run under ASan+UBSan
# (a second build dir, BUILD_DIR-asan) and valgrind; see below.
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
# The natively patched QEMU (qemu-patches/) for the qmp-native and
# e2e-native tests: built from Debian's source (cached between runs, keyed
# by the series), unless UFFD_SHIM_NATIVE_QEMU names one or
# UFFD_SHIM_BUILD_QEMU=0. A failed build fails the run (the tests then
# fail for lack of it under UFFD_SHIM_REQUIRE_ALL=1).
native_failed=0
# build_native SERIES OUTDIR VAR LOG: build (or take from the cache) the
# patched QEMU of SERIES into OUTDIR and export VAR naming its binary.
build_native() {
  echo "building the patched QEMU $1 into $2 (log: $top/$4)"
  if bash qemu-patches/build.sh "$1" "$2" >"$top/$4" 2>&1; then
    export "$3=$2/bin/qemu-system-x86_64"
    tail -n 3 "$top/$4"
  else
    tail -n 40 "$top/$4"
    native_failed=$((native_failed + 1))
  fi
}
if [ "$(id -u)" = 0 ] && [ -z "${UFFD_SHIM_NATIVE_QEMU:-}" ] && [ "${UFFD_SHIM_BUILD_QEMU:-1}" = 1 ]; then
  build_native 7.2 "${UFFD_SHIM_QEMU_OUT:-/var/tmp/uffd-shim-qemu-7.2}" UFFD_SHIM_NATIVE_QEMU qemu-build.log
fi
# qemu-storage-daemon with the libvhost-user postcopy fixes
# (qemu-patches/build-qsd.sh, cached likewise, about 3 minutes the first
# time) for the qmp-vhost-user test, unless UFFD_SHIM_TEST_QSD names one or
# UFFD_SHIM_BUILD_QEMU=0.
if [ "$(id -u)" = 0 ] && [ -z "${UFFD_SHIM_TEST_QSD:-}" ] && [ "${UFFD_SHIM_BUILD_QEMU:-1}" = 1 ]; then
  qsd_out=${UFFD_SHIM_QSD_OUT:-/var/tmp/uffd-shim-qsd-7.2}
  echo "building the patched qemu-storage-daemon 7.2 into $qsd_out (log: $top/qsd-build.log)"
  if bash qemu-patches/build-qsd.sh 7.2 "$qsd_out" >"$top/qsd-build.log" 2>&1; then
    export UFFD_SHIM_TEST_QSD=$qsd_out/bin/qemu-storage-daemon
    tail -n 2 "$top/qsd-build.log"
  else
    tail -n 40 "$top/qsd-build.log"
    native_failed=$((native_failed + 1))
  fi
fi
# The newer stack for the 'newer' suite (tests/newer-stack): a Debian 12
# root with libvirt 11.x and QEMU 10.x from bookworm-backports
# (tests/newer-stack/setup-root.sh, cached in /var/cache/uffd-shim, keyed
# by that script's commands, about 1.5 minutes the first time) and the
# patched QEMU 10.x (qemu-patches/build.sh 10.x, cached likewise, about 9
# minutes the first time), unless UFFD_SHIM_NEWER_ROOT or
# UFFD_SHIM_NATIVE_QEMU10 name them, or UFFD_SHIM_NEWER=0 (the suite then
# skips, or fails under UFFD_SHIM_REQUIRE_ALL=1).
if [ "$(id -u)" = 0 ] && [ "${UFFD_SHIM_NEWER:-1}" = 1 ]; then
  if [ -z "${UFFD_SHIM_NEWER_ROOT:-}" ]; then
    echo "setting up the libvirt 11.x / QEMU 10.x root (log: $top/newer-root.log)"
    if newer_root=$(bash tests/newer-stack/setup-root.sh 2>"$top/newer-root.log" | tail -n 1) &&
        [ -n "$newer_root" ]; then
      export UFFD_SHIM_NEWER_ROOT=$newer_root
      tail -n 6 "$top/newer-root.log"
    else
      tail -n 40 "$top/newer-root.log"
      native_failed=$((native_failed + 1))
    fi
  fi
  if [ -z "${UFFD_SHIM_NATIVE_QEMU10:-}" ] && [ "${UFFD_SHIM_BUILD_QEMU:-1}" = 1 ]; then
    build_native 10.x "${UFFD_SHIM_QEMU10_OUT:-/var/tmp/uffd-shim-qemu-10.x}" UFFD_SHIM_NATIVE_QEMU10 qemu10-build.log
  fi
fi
meson test -C "$build" --print-errorlogs --num-processes 1 "$@"
rc=$?
logs=("$build/meson-logs/testlog.json")

# Sanitizers (by default when no arguments select tests; UFFD_SHIM_SANITIZE=0/1
# overrides): the unit, integration and fuzz suites once more from an
# ASan+UBSan build, and the unit and fuzz suites under valgrind memcheck.
# Each sanitized process writes its reports to $san/sanitizer-reports; every
# report counts as a failure, even from a process no test checks (the broker
# is stopped with SIGTERM and its exit status is not a test result).
san_extra_failed=$native_failed
if [ "${UFFD_SHIM_SANITIZE:-$([ $# -eq 0 ] && echo 1 || echo 0)}" = 1 ]; then
  san=$build-asan
  reports=$top/$san/sanitizer-reports
  rm -f "$san/meson-logs/testlog.json" "$build/meson-logs/testlog-valgrind.json"
  if { [ -d "$san" ] || meson setup "$san" -Db_sanitize=address,undefined -Db_lundef=false \
         >"$top/meson-setup-asan.log" 2>&1; } && ninja -C "$san"; then
    rm -rf "$reports" && mkdir -m 1777 -p "$reports"
    # Not here: 'meson-install' links an uninstrumented program against the
    # library; 'load' and 'deb' measure what ASan changes (RSS, time).
    mapfile -t san_tests < <(meson test -C "$san" --list --suite unit --suite integration --suite fuzz 2>/dev/null | grep ' / ' |
      sed 's|^.* / ||' | grep -vxE 'meson-install|load|deb')
    # Tests are named here, so a name must be unique across suites (meson
    # 1.0 runs every test of that name and then fails on the duplicate).
    dups=$(printf '%s\n' "${san_tests[@]}" | sort | uniq -d)
    if [ -n "$dups" ]; then
      echo "test names used in more than one suite: $dups"
      san_extra_failed=$((san_extra_failed + 1)); rc=1
    fi
    # verify_asan_link_order=0: the (uninstrumented) preload is LD_PRELOADed
    # into the instrumented probe, ahead of libasan.
    # The broker's filter would kill the sanitizers' own helpers (leak check
    # at exit, symbolizer): log mode here; test-seccomp checks kill mode itself.
    UFFD_SHIM_SECCOMP=log \
    ASAN_OPTIONS=log_path=$reports/asan:halt_on_error=1:abort_on_error=1:detect_leaks=1:verify_asan_link_order=0 \
    UBSAN_OPTIONS=log_path=$reports/ubsan:halt_on_error=1:print_stacktrace=1 \
      meson test -C "$san" --print-errorlogs --num-processes 1 "${san_tests[@]}" || rc=1
    logs+=("$san/meson-logs/testlog.json")
    if compgen -G "$reports/*" >/dev/null; then
      echo "sanitizer reports:"; cat "$reports"/*
      san_extra_failed=$((san_extra_failed + $(ls "$reports" | wc -l)))
      rc=1
    fi
  else
    cat "$top/meson-setup-asan.log" 2>/dev/null; san_extra_failed=$((san_extra_failed + 1)); rc=1
  fi
  if command -v valgrind >/dev/null; then
    meson test -C "$build" --setup valgrind --print-errorlogs --num-processes 2 --suite unit --suite fuzz || rc=1
    logs+=("$build/meson-logs/testlog-valgrind.json")
  else
    echo "valgrind is not installed"; san_extra_failed=$((san_extra_failed + 1)); rc=1
  fi
fi
knob_after=$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null || echo "?")
echo "vm.unprivileged_userfaultfd after the tests: $knob_after"
python3 - "$knob_before" "$knob_after" "$san_extra_failed" "${logs[@]}" <<'PY'
import json, sys
passed = failed = skipped = 0
failures = []
for log in sys.argv[4:]:
    try:
        lines = open(log).readlines()
    except OSError:
        print("%s: missing (that run did not happen)" % log)
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        r = t["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
            failures.append((log, t))
failed += int(sys.argv[3])
# The end of a CI log is often all that is kept: each failed test is named
# here again with its TAP failures and the last lines it printed, the run it belongs to first.
for log, t in failures:
    out = (t.get("stdout") or "").rstrip("\n").split("\n")
    print("FAILED %s (%s, %s, %.0f s, exit %s); its last lines:" %
          (t["name"], log, t["result"], t.get("duration") or 0, t.get("returncode")))
    notok = [l for l in out if l.startswith("not ok")]
    for l in notok[:10] + (["..."] if notok else []) + out[-20:]:
        print("  | " + l[:300])
if int(sys.argv[3]):
    print("%s failure(s) outside the test runs: a patched QEMU or the newer-stack root "
          "was not built, a sanitizer reported, or a run did not start (see above)" % sys.argv[3])
if sys.argv[1] != sys.argv[2] or sys.argv[2] != "0":
    print("the knob changed or is not 0: %s -> %s" % (sys.argv[1], sys.argv[2]))
    failed += 1
print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
sys.exit(1 if failed else 0)
PY
summary=$?
[ $rc -eq 0 ] && exit $summary
exit 1

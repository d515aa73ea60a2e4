#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Reads the time of each hook run out of a libvirtd debug log (util.hook and util.command at level 1).
"""usage: hooklog.py LIBVIRTD.LOG HOST  -> JSON on stdout

libvirt 9.0 logs, from the thread that runs the hook,
  virRunScript: Calling hook PATH id=DOMAIN op=OP subop=SUBOP extra=-
  ... (virCommandRunAsync: About to run ...; Command result ... with PID N)
  virCommandRun: Result status N, stdout: ...
The time between the first and the last is the hook run as libvirtd sees
it: fork, exec, the hook itself, libvirt's pipe I/O and the reaping.
The log's timestamps have millisecond resolution.
"""
import json
import re
import statistics
import sys
from datetime import datetime

LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})[+-]\d{4}: (\d+): \w+ : (\w+):\d+ : (.*)$")
CALL = re.compile(r"Calling hook (\S+) id=(\S+) op=(\S+) subop=(\S+)")


def percentile(values, p):
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def main():
    path, host = sys.argv[1], sys.argv[2]
    pending = {}
    times = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            ts = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            tid, func, msg = m.group(2), m.group(3), m.group(4)
            c = CALL.search(msg) if func == "virRunScript" else None
            if c:
                pending[tid] = ("%s %s" % (c.group(3), c.group(4)), ts)
            elif func == "virCommandRun" and msg.startswith("Result status") and tid in pending:
                op, t0 = pending.pop(tid)
                times.setdefault(op, []).append((ts - t0) * 1000.0)
    ops = {}
    for op, v in times.items():
        ops["%s@%s" % (op, host)] = {"n": len(v), "median": round(statistics.median(v), 1),
                                     "p99": round(percentile(v, 99), 1),
                                     "max": round(max(v), 1)}
    json.dump({"resolution_ms": 1, "ops": ops}, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

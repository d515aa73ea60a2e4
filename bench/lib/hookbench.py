#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Times a libvirt qemu hook per operation, run the way libvirtd runs it (argv, domain XML on stdin).
"""usage: hookbench.py --hook PATH --xml FILE --name DOMAIN --uuid UUID
                      --ctl UFFD-SHIMCTL [--iterations N] [--json OUT]

Runs HOOK DOMAIN OP SUBOP - with FILE on stdin, stdout and stderr to pipes
that are read to the end (as libvirtd's virCommandProcessIO does), N times
per operation, operations interleaved round-robin so that a slow period of
the machine spreads over all of them. Wall time from spawn to reaped exit.
Any non-zero exit is an error. Before each `stopped end` a grant for DOMAIN
exists (the destination of a failed incoming migration revokes one); before
`release end` there is none (libvirt runs it right after `stopped`). The
harness' own cost is measured the same way with /bin/true.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

# operation, sub-operation, what uffd-shim-hook does for it
OPS = [
    ("migrate", "begin", "open a grant (admin socket), add LD_PRELOAD to the XML, print it"),
    ("prepare", "begin", "nothing (drain stdin)"),
    ("start", "begin", "nothing (drain stdin)"),
    ("started", "begin", "nothing (drain stdin)"),
    ("stopped", "end", "revoke the grant (one exists)"),
    ("release", "end", "revoke the grant (none left: not-found)"),
    ("reconnect", "begin", "nothing (keeps the grant)"),
    ("restore", "begin", "nothing (drain stdin)"),
]


def percentile(values, p):
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def stats(values):
    return {"n": len(values), "median": round(statistics.median(values), 3),
            "p99": round(percentile(values, 99), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def run_once(argv, xml):
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, close_fds=True)
    out, err = p.communicate(xml)
    dt = (time.perf_counter() - t0) * 1000.0
    return dt, p.returncode, out, err


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hook", required=True)
    ap.add_argument("--xml", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--uuid", required=True)
    ap.add_argument("--ctl", required=True, help="uffd-shimctl, to open the grant before 'stopped'")
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--json")
    a = ap.parse_args()
    with open(a.xml, "rb") as f:
        xml = f.read()
    times = {"%s %s" % (op, sub): [] for op, sub, _ in OPS}
    base = []
    edited = None
    for _ in range(a.iterations):
        dt, rc, _, _ = run_once(["true"], xml)
        base.append(dt)
        for op, sub, _ in OPS:
            if op == "stopped":
                subprocess.run([a.ctl, "grant", a.name, a.uuid, "--replace"], check=True,
                               stdout=subprocess.DEVNULL)
            dt, rc, out, err = run_once([a.hook, a.name, op, sub, "-"], xml)
            if rc != 0 or (op != "migrate" and out) or (op == "migrate" and b"LD_PRELOAD" not in out):
                sys.exit("hookbench: %s %s %s: exit %d, stdout %d bytes, stderr: %s"
                         % (a.hook, op, sub, rc, len(out), err.decode(errors="replace").strip()))
            if op == "migrate":
                edited = len(out)
            times["%s %s" % (op, sub)].append(dt)
    subprocess.run([a.ctl, "revoke", a.name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    doc = {"iterations": a.iterations, "xml_bytes": len(xml), "edited_xml_bytes": edited,
           "baseline": dict(stats(base), command="true"),
           "ops": {k: dict(stats(v), does=d) for (k, v), (_, _, d) in zip(times.items(), OPS)}}
    text = json.dumps(doc, indent=2)
    if a.json:
        with open(a.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

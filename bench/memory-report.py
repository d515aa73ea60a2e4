#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Turns bench-memory's samples into OUTDIR/memory.json and OUTDIR/memory.md (python3 stdlib only).
"""usage: memory-report.py OUTDIR [--param K=V ...]

Reads OUTDIR/memory/samples.jsonl (the idle broker, then after each sampled
number of grant lifecycles, then idle again), checks that the broker handed
out exactly one device per lifecycle, and the targets: idle VmRSS at most
4 MiB, and no growth: VmRSS after all lifecycles (idle again) at most 64 KiB
above the figure at 10,000 lifecycles (allocator noise; a leak of one byte
per lifecycle over the 90,000 after would exceed it).
It also splits the resident memory by mapping (OUTDIR/memory/smaps-idle.txt
and smaps-end.txt, copies of the broker's /proc/PID/smaps): which shared
objects, and how much anonymous memory, make up the figure.
"""
import argparse
import json
import os
import sys

IDLE_TARGET_KIB = 4096
GROWTH_TOLERANCE_KIB = 64
FIELDS = [("VmRSS_kib", "VmRSS"), ("Rss_kib", "Rss"), ("Pss_kib", "Pss"),
          ("Pss_Anon_kib", "Pss anon"), ("Pss_File_kib", "Pss file"),
          ("Anonymous_kib", "anon"), ("VmHWM_kib", "VmHWM")]


def by_mapping(path):
    """{object: [Rss KiB, Pss KiB]} from a copy of /proc/PID/smaps."""
    out = {}
    cur = None
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if not parts:
                    continue
                if "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                    name = parts[5] if len(parts) >= 6 else "[anon]"
                    cur = os.path.basename(name) if name.startswith("/") else name
                    if cur.startswith("[anon"):
                        cur = "[anon]"
                    out.setdefault(cur, [0, 0])
                elif cur and parts[0] in ("Rss:", "Pss:"):
                    out[cur][0 if parts[0] == "Rss:" else 1] += int(parts[1])
    except OSError:
        return {}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--param", action="append", default=[])
    a = ap.parse_args()
    with open(os.path.join(a.outdir, "memory", "samples.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    params = {}
    for p in a.param:
        k, _, v = p.partition("=")
        params[k] = v
    maps = {when: by_mapping(os.path.join(a.outdir, "memory", "smaps-%s.txt" % when))
            for when in ("idle", "end")}
    params["rss_by_mapping_kib"] = {w: {k: v[0] for k, v in m.items()} for w, m in maps.items()}
    idle, end = rows[0], rows[-1]
    # Growth is measured once the table of ended grants is full (1,024, after
    # as many lifecycles): from the first sample at 10,000 lifecycles or a
    # tenth of the run, whichever is larger, to the idle sample at the end.
    total = max(r["lifecycles"] for r in rows)
    ref = next((r for r in rows if r["lifecycles"] >= max(total // 10, 10000)), rows[-2])
    errors = [r for r in rows if r["handed_out"] != r["lifecycles"]]
    growth = end["VmRSS_kib"] - ref["VmRSS_kib"]
    targets = [
        {"name": "idle VmRSS (KiB)", "value": idle["VmRSS_kib"],
         "target": "<= %d" % IDLE_TARGET_KIB, "met": idle["VmRSS_kib"] <= IDLE_TARGET_KIB},
        {"name": "VmRSS growth from %s to %s lifecycles, settled (KiB)" % (
            "{:,}".format(ref["lifecycles"]), "{:,}".format(end["lifecycles"])),
         "value": growth, "target": "<= %d" % GROWTH_TOLERANCE_KIB,
         "met": growth <= GROWTH_TOLERANCE_KIB},
    ]
    doc = {"part": "memory", "params": params, "results": rows, "targets": targets}
    with open(os.path.join(a.outdir, "memory.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    md = ["## Broker memory", "",
          "A private `uffd-shimd` (seccomp on, state on tmpfs), idle, then after grant "
          "lifecycles: each a new domain granted over the admin socket, one device handed "
          "to that domain's \"QEMU\" (uid %s, holding the domain's locked pid file), then "
          "revoked. KiB; Pss/anon from `/proc/PID/smaps_rollup`." % params.get("qemu_uid", "?"),
          "",
          "| lifecycles | " + " | ".join(h for _, h in FIELDS) + " | hand-outs | time s |",
          "|---|" + "---:|" * (len(FIELDS) + 2)]
    for r in rows:
        label = "{:,}".format(r["lifecycles"])
        if r["lifecycles"] == 0:
            label = "0 (idle)"
        elif r.get("settled"):
            label += ", idle again"
        md.append("| %s | " % label + " | ".join("{:,}".format(r[k]) for k, _ in FIELDS) +
                  " | {:,} | {:.1f} |".format(r["handed_out"], r["seconds"]))
    md += ["", "| target | value | target | met |", "|---|---:|---|---|"]
    for t in targets:
        md.append("| %s | {:,} | %s | %s |".format(t["value"]) % (
            t["name"], t["target"], "yes" if t["met"] else "**no**"))
    if maps["idle"]:
        names = sorted(maps["idle"], key=lambda k: -maps["idle"][k][0])
        md += ["", "Resident memory by mapping (KiB; Rss counts a shared page in full, Pss "
               "divides it among the processes mapping it):", "",
               "| mapping | Rss idle | Pss idle | Rss end | Pss end |", "|---|---:|---:|---:|---:|"]
        for n in names:
            if maps["idle"][n][0] == 0 and maps["end"].get(n, [0, 0])[0] == 0:
                continue
            e = maps["end"].get(n, [0, 0])
            md.append("| `%s` | {:,} | {:,} | {:,} | {:,} |".format(
                maps["idle"][n][0], maps["idle"][n][1], e[0], e[1]) % n)
    md.append("")
    with open(os.path.join(a.outdir, "memory.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    if errors:
        print("memory-report: hand-outs do not match lifecycles: %r" % errors, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

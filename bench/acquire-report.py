#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Turns bench-acquire's JSON lines into OUTDIR/acquire.json and OUTDIR/acquire.md (python3 stdlib only).
"""usage: acquire-report.py OUTDIR [--param K=V ...]

Reads OUTDIR/acquire/{syscall,device,library}.jsonl (one object per
concurrency level, from bench-acquire), adds each figure's ratio to the raw
syscall's at the same concurrency (latency: library / raw, higher is slower;
throughput: library / raw, lower is slower), checks the targets (a level
with failed acquisitions meets none) and writes the part's JSON and
Markdown.
"""
import argparse
import json
import os
import platform
import sys

MODES = [("syscall", "raw syscall, knob 1"), ("device", "raw open + ioctl, root"),
         ("library", "library via broker")]
# Targets: (what, clients, key in a result, comparison, bound). A level the
# run did not measure is reported as such (value n/a, not met).
TARGETS = [("broker p50 latency", 16, "p50_us", "<=", 60.0, "us"),
           ("broker p99 latency", 16, "p99_us", "<=", 1000.0, "us"),
           ("broker hand-outs per second", 256, "throughput_per_s", ">=", 10000.0, "")]


def load(outdir):
    rows = []
    for mode, _ in MODES:
        path = os.path.join(outdir, "acquire", mode + ".jsonl")
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def ratio(a, b):
    return round(a / b, 2) if a is not None and b else None


def fmt(v, digits=1):
    if v is None:
        return "n/a"
    if isinstance(v, int):
        return "{:,}".format(v)
    return "{:,.{}f}".format(v, digits)


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"kernel": platform.release(), "cpu": cpu, "cpus": os.cpu_count()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--param", action="append", default=[])
    a = ap.parse_args()
    rows = load(a.outdir)
    raw = {r["concurrency"]: r for r in rows if r["mode"] == "syscall"}
    for r in rows:
        base = raw.get(r["concurrency"])
        r["vs_raw"] = None if not base else {
            "p50": ratio(r["p50_us"], base["p50_us"]),
            "p99": ratio(r["p99_us"], base["p99_us"]),
            "max": ratio(r["max_us"], base["max_us"]),
            "throughput": ratio(r["throughput_per_s"], base["throughput_per_s"]),
        }
    lib = {r["concurrency"]: r for r in rows if r["mode"] == "library"}
    targets = []
    for what, clients, key, cmp, bound, unit in TARGETS:
        r = lib.get(clients)
        v = r[key] if r else None
        met = (v is not None and not r.get("errors") and
               (v <= bound if cmp == "<=" else v >= bound))
        targets.append({"name": "%s at %d clients%s" % (what, clients, " (%s)" % unit if unit else ""),
                        "value": v, "target": "%s %g" % (cmp, bound), "met": met})
    params = {}
    for p in a.param:
        k, _, v = p.partition("=")
        params[k] = v
    params["machine"] = machine()
    params["acquisition"] = ("create a uffd (O_CLOEXEC|O_NONBLOCK, kernel faults allowed), "
                             "UFFDIO_API, close; timed in the client; closed loop per client "
                             "process")
    doc = {"part": "acquire", "params": params, "results": rows, "targets": targets}
    with open(os.path.join(a.outdir, "acquire.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

    md = ["## uffd acquisition", "",
          "One acquisition: create a userfaultfd that can take kernel-mode faults "
          "(`O_CLOEXEC|O_NONBLOCK`), `UFFDIO_API`, close, timed by the client. Every "
          "client is a process in a closed loop; the broker's clients are distinct "
          "granted \"QEMU\" processes (uid %s), one domain each. Ratios are to the raw "
          "syscall at the same number of clients (latency: x slower; rate: fraction "
          "of raw). Machine: %s, %s CPUs, Linux %s." % (
              params.get("qemu_uid", "?"), params["machine"]["cpu"], params["machine"]["cpus"],
              params["machine"]["kernel"]), "",
          "| method | clients | acquisitions | errors | p50 µs | p99 µs | max µs | per second "
          "| p50 × raw | p99 × raw | rate × raw | broker CPU µs/hand-out |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    names = dict(MODES)
    for mode, _ in MODES:
        for r in sorted((r for r in rows if r["mode"] == mode), key=lambda r: r["concurrency"]):
            v = r["vs_raw"] or {}
            md.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                names[mode], r["concurrency"], fmt(r["acquisitions"]), fmt(r.get("errors", 0)),
                fmt(r["p50_us"]),
                fmt(r["p99_us"]), fmt(r["max_us"]), fmt(r["throughput_per_s"], 0),
                fmt(v.get("p50"), 2), fmt(v.get("p99"), 2), fmt(v.get("throughput"), 2),
                fmt(r.get("broker_cpu_us_per_handout")) if mode == "library" else "-"))
    md += ["", "| target | value | target | met |", "|---|---:|---|---|"]
    for t in targets:
        md.append("| %s | %s | %s | %s |" % (t["name"], fmt(t["value"]), t["target"],
                                              "yes" if t["met"] else "**no**"))
    md.append("")
    with open(os.path.join(a.outdir, "acquire.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

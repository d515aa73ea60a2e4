#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Turns benchmark run records into each part's JSON and Markdown, and the parts into the combined report.
"""Benchmark reports (python3 stdlib only).

  report.py migration OUTDIR [--param K=V ...]
      reads OUTDIR/migration/*.json (one per postcopy.py run, with 'arm'
      and 'run' added), writes OUTDIR/migration.json and migration.md
  report.py libvirt OUTDIR [--param K=V ...]
      reads OUTDIR/libvirt/migrations.jsonl and OUTDIR/libvirt/hook-*.json,
      writes OUTDIR/libvirt.json and libvirt.md
  report.py evacuate OUTDIR [--param K=V ...]
      reads OUTDIR/evacuate/evacuations.jsonl and guests.jsonl, writes
      OUTDIR/evacuate.json and evacuate.md
  report.py combine OUTDIR --machine FILE PART...
      reads OUTDIR/PART.json and PART.md for each PART, writes
      OUTDIR/bench.json and OUTDIR/bench.md, prints the Markdown

A part's JSON: {"part", "params", "results": [...], "targets": [{"name",
"value", "target", "met"}], ...}; medians are of the successful runs only.
"""

import argparse
import glob
import json
import os
import random
import statistics
import sys

RATIO_TARGET = 1.02


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def percentile(values, p):
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def ratio_interval(pairs, draws=4000, seed=1):
    """95% bootstrap interval of median(shim)/median(plain), resampling the
    interleaved (plain, shim) pairs together (a pair shares the machine's
    load of its moment); None with fewer than 5 pairs. Fixed seed: the same
    runs give the same interval."""
    if len(pairs) < 5:
        return None
    rng = random.Random(seed)
    n = len(pairs)
    boots = []
    for _ in range(draws):
        pick = [pairs[rng.randrange(n)] for _ in range(n)]
        r = ratio(median([b for _, b in pick]), median([a for a, _ in pick]))
        if r is not None:
            boots.append(r)
    if not boots:
        return None
    boots.sort()
    return (boots[int(0.025 * len(boots))], boots[int(0.975 * len(boots)) - 1])


def pairs_needed(interval, n, halfwidth=RATIO_TARGET - 1):
    """Pairs that would narrow @interval (from @n pairs) to +-@halfwidth,
    the interval shrinking as 1/sqrt(pairs)."""
    if not interval or n <= 0:
        return None
    h = (interval[1] - interval[0]) / 2
    return n if h <= halfwidth else int(n * (h / halfwidth) ** 2 + 0.999)


def fmt(v, digits=1):
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return "{:,}".format(v)
    if isinstance(v, float):
        if v.is_integer() and abs(v) >= 1000:
            return "{:,}".format(int(v))
        return "{:,.{}f}".format(v, digits)
    return str(v)


def fmt_target(v):
    """A target's value: ratios with 3 decimals, larger numbers with 1."""
    if isinstance(v, float) and abs(v) >= 100:
        return fmt(v, 1)
    return fmt(v, 3)


def fmt_ratio(r):
    return "n/a" if r is None else "%.3f" % r


def params_from(pairs):
    out = {}
    for p in pairs or []:
        k, _, v = p.partition("=")
        try:
            out[k] = int(v)
        except ValueError:
            out[k] = v
    return out


def write_part(outdir, part, doc, md):
    with open(os.path.join(outdir, part + ".json"), "w") as f:
        json.dump(doc, f, indent=2, sort_keys=False)
        f.write("\n")
    with open(os.path.join(outdir, part + ".md"), "w") as f:
        f.write(md.rstrip("\n") + "\n")


def target_line(t):
    return "| %s | %s | %s | %s |" % (t["name"], fmt_target(t["value"]), t["target"],
                                      "met" if t["met"] else "**missed**")


def targets_table(targets):
    lines = ["| target | value | wanted | |", "|---|---:|---|---|"]
    lines += [target_line(t) for t in targets]
    return lines


# ---- migration ---------------------------------------------------------------

# key, label, unit, extractor(run) -> number or None
MIGRATION_METRICS = [
    ("total_ms", "total time (QEMU `total-time`)", "ms", lambda r: r.get("total_time_ms")),
    ("downtime_ms", "downtime (QEMU `downtime`: source side, whole ms)", "ms",
     lambda r: r.get("downtime_ms")),
    ("guest_downtime_ms", "downtime seen by the guest (source STOP to destination RESUME)",
     "ms", lambda r: (r.get("timeline") or {}).get("dst_downtime_ms")),
    ("precopy_ms", "precopy phase (setup to switch)", "ms",
     lambda r: (r.get("timeline") or {}).get("precopy_ms")),
    ("postcopy_ms", "postcopy phase (switch to destination completed)", "ms",
     lambda r: (r.get("timeline") or {}).get("postcopy_dst_ms")),
    ("blocktime_ms", "postcopy blocktime (`postcopy-blocktime`)", "ms",
     lambda r: r.get("blocktime_ms")),
    ("vcpu_blocktime_ms", "vCPU blocktime (`postcopy-vcpu-blocktime`)", "ms",
     lambda r: sum(r["vcpu_blocktime_ms"]) if r.get("vcpu_blocktime_ms") else
     (0 if r.get("vcpu_blocktime_ms") == [] else None)),
    ("postcopy_requests", "pages requested by the destination (`postcopy-requests`)", "",
     lambda r: (r.get("ram") or {}).get("postcopy-requests")),
    ("pages", "pages sent (`normal`)", "", lambda r: (r.get("ram") or {}).get("normal")),
    ("transferred_mib", "transferred", "MiB",
     lambda r: round((r.get("ram") or {}).get("transferred", 0) / 1048576.0, 1)
     if (r.get("ram") or {}).get("transferred") is not None else None),
]
# Downtime: the guest's (event timestamps, microseconds). QEMU's own
# `downtime` is whole milliseconds of a few-millisecond pause on the source
# side only: one millisecond of rounding is a ratio of 1.5 or 2.
MIGRATION_TARGETS = [("total_ms", "median total-time ratio shim/plain"),
                     ("guest_downtime_ms", "median downtime ratio shim/plain (as the guest saw it)")]


def migration(args):
    runs = []
    for path in sorted(glob.glob(os.path.join(args.outdir, "migration", "*.json"))):
        with open(path) as f:
            runs.append(json.load(f))
    measured = [r for r in runs if not r.get("run", "").startswith("warmup")]
    # order of execution: the run files are named ARM-I, so sort by I then
    # keep the order the script ran them in (odd pairs plain first)
    def order(r):
        try:
            i = int(r["run"].rsplit("-", 1)[1])
        except (KeyError, ValueError, IndexError):
            i = 0
        first = "plain" if i % 2 == 1 else "shim"
        return (i, 0 if r.get("arm") == first else 1)
    measured.sort(key=order)
    rows = []
    for r in measured:
        # each arm really ran as intended: plain at knob 1 without the
        # broker, shim at knob 0 with QEMU served by the broker
        if r.get("arm") == "plain":
            setup_ok = r.get("knob") == 1 and r.get("handouts") == 0
        else:
            setup_ok = r.get("knob") == 0 and (r.get("handouts") or 0) > 0
        if not setup_ok and not r.get("error"):
            r["error"] = "the %s arm ran with the knob at %s and %s broker hand-outs" % (
                r.get("arm"), r.get("knob"), r.get("handouts"))
        row = {"run": r.get("run"), "arm": r.get("arm"),
               "ok": r.get("outcome") == "ok" and r.get("rc") == 0 and setup_ok,
               "knob": r.get("knob"), "handouts": r.get("handouts"),
               "memcheck": r.get("memcheck"), "dst_dma_errors": r.get("dst_dma_errors"),
               "blocktime_enabled": r.get("blocktime_enabled"), "loadavg": r.get("loadavg")}
        if r.get("error"):
            row["error"] = r["error"]
        for key, _, _, get in MIGRATION_METRICS:
            try:
                row[key] = get(r)
            except (TypeError, KeyError):
                row[key] = None
        rows.append(row)
    ok = {arm: [x for x in rows if x["arm"] == arm and x["ok"]] for arm in ("plain", "shim")}
    summary = {}
    for key, label, unit, _ in MIGRATION_METRICS:
        s = {"label": label, "unit": unit}
        for arm in ("plain", "shim"):
            vals = [x[key] for x in ok[arm] if x[key] is not None]
            s[arm] = {"median": median(vals), "min": min(vals) if vals else None,
                      "max": max(vals) if vals else None, "n": len(vals)}
        s["ratio"] = ratio(s["shim"]["median"], s["plain"]["median"])
        s["difference"] = (None if s["shim"]["median"] is None or s["plain"]["median"] is None
                           else s["shim"]["median"] - s["plain"]["median"])
        # interleaved pairs: plain-I with shim-I, both successful
        by = {(x["arm"], x["run"].rsplit("-", 1)[-1]): x[key] for x in ok["plain"] + ok["shim"]}
        pairs = [(by[("plain", i)], by[("shim", i)]) for (arm, i) in sorted(by)
                 if arm == "plain" and ("shim", i) in by and by[("plain", i)] is not None
                 and by[("shim", i)] is not None]
        s["pairs"] = len(pairs)
        s["ratio_interval95"] = ratio_interval(pairs)
        s["pairs_for_2pct"] = pairs_needed(s["ratio_interval95"], len(pairs))
        summary[key] = s
    n_ok = sum(1 for x in rows if x["ok"])
    targets = []
    for key, name in MIGRATION_TARGETS:
        r = summary[key]["ratio"]
        targets.append({"name": name, "value": None if r is None else round(r, 3),
                        "target": "<= %.2f" % RATIO_TARGET,
                        "met": r is not None and r <= RATIO_TARGET})
        ci = summary[key]["ratio_interval95"]
        # Whether this run can tell: the 95% interval of that ratio must lie
        # within 1 +- 2% for "met" or "missed" to mean anything.
        targets.append({"name": name.replace("median", "95% interval of the", 1) +
                        " (%d interleaved pairs; about %s pairs would resolve 2%%)"
                        % (summary[key]["pairs"], fmt(summary[key]["pairs_for_2pct"], 0)),
                        "value": "n/a" if ci is None else "%.3f - %.3f" % ci,
                        "target": "within %.2f - %.2f" % (2 - RATIO_TARGET, RATIO_TARGET),
                        "met": ci is not None and ci[0] >= 2 - RATIO_TARGET and ci[1] <= RATIO_TARGET})
    targets.append({"name": "runs completed with guest memory intact",
                    "value": "%d/%d" % (n_ok, len(rows)), "target": "all",
                    "met": n_ok == len(rows) and len(rows) > 0})
    params = params_from(args.param)
    doc = {"part": "migration", "params": params, "results": rows, "summary": summary,
           "targets": targets}

    md = ["## Postcopy migration over QMP: plain QEMU (knob 1) against QEMU with uffd-shim (knob 0)",
          ""]
    md.append("Parameters: " + "; ".join("%s = %s" % (k, v) for k, v in params.items()) + ".")
    md.append("Successful runs: plain %d, shim %d (of %d). Medians, with the range over runs:"
              % (len(ok["plain"]), len(ok["shim"]), len(rows)))
    md.append("")
    md.append("| metric | plain, knob 1 | shim, knob 0 | ratio shim/plain | ratio, 95% interval "
              "| difference | plain range | shim range |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for key, label, unit, _ in MIGRATION_METRICS:
        s = summary[key]
        u = " " + unit if unit else ""
        rng = {arm: "%s - %s" % (fmt(s[arm]["min"]), fmt(s[arm]["max"])) for arm in ("plain", "shim")}
        diff = "n/a" if s["difference"] is None else "%+.1f%s" % (s["difference"], u)
        ci = s["ratio_interval95"]
        md.append("| %s | %s%s | %s%s | %s | %s | %s | %s | %s |" % (
            label, fmt(s["plain"]["median"]), u, fmt(s["shim"]["median"]), u,
            fmt_ratio(s["ratio"]), "n/a" if ci is None else "%.3f - %.3f" % ci, diff,
            rng["plain"], rng["shim"]))
    md.append("")
    md.append("The interval: bootstrap over the interleaved pairs (plain-I with shim-I, "
              "resampled together, fixed seed), 95%. A ratio target is judged by this run "
              "only if the interval lies within 1 +- 2%; otherwise the run cannot tell, "
              "and the pairs it would take are estimated from the interval's width.")
    md.append("")
    md += targets_table(targets)
    md.append("")
    md.append("Runs in the order they ran (times in ms; load: 1-minute load average after the run):")
    md.append("")
    md.append("| run | ok | total | downtime | guest downtime | precopy | postcopy | blocktime "
              "| requests | pages | broker hand-outs | memcheck | load |")
    md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for x in rows:
        md.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            x["run"], "yes" if x["ok"] else "**no**", fmt(x["total_ms"]), fmt(x["downtime_ms"]),
            fmt(x["guest_downtime_ms"]), fmt(x["precopy_ms"]), fmt(x["postcopy_ms"]),
            fmt(x["blocktime_ms"]), fmt(x["postcopy_requests"]), fmt(x["pages"]),
            fmt(x["handouts"]), x.get("memcheck") or "n/a", fmt(x.get("loadavg"), 2)))
    bad = [x for x in rows if not x["ok"]]
    for x in bad:
        md.append("")
        md.append("Run %s failed: %s" % (x["run"], x.get("error", "see its log")))
    write_part(args.outdir, "migration", doc, "\n".join(md))
    return 0


# ---- libvirt -------------------------------------------------------------------

def stats_ms(values):
    if not values:
        return {"n": 0, "median": None, "p99": None, "min": None, "max": None}
    return {"n": len(values), "median": round(median(values), 3),
            "p99": round(percentile(values, 99), 3), "min": round(min(values), 3),
            "max": round(max(values), 3)}


def libvirt(args):
    d = os.path.join(args.outdir, "libvirt")
    runs = []
    path = os.path.join(d, "migrations.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            runs = [json.loads(line) for line in f if line.strip()]
    measured = [r for r in runs if not r.get("warmup")]
    summary = {}
    for arm in ("plain", "shim"):
        vals = [r["seconds"] for r in measured if r["arm"] == arm and r["ok"]]
        summary[arm] = {"median_s": median(vals), "min_s": min(vals) if vals else None,
                        "max_s": max(vals) if vals else None, "n": len(vals)}
    wall_ratio = ratio(summary["shim"]["median_s"], summary["plain"]["median_s"])
    hook = {}
    hpath = os.path.join(d, "hook-direct.json")
    if os.path.exists(hpath):
        with open(hpath) as f:
            hook = json.load(f)
    observed = {}
    opath = os.path.join(d, "hook-libvirtd.json")
    if os.path.exists(opath):
        with open(opath) as f:
            observed = json.load(f)
    n_ok = sum(1 for r in measured if r["ok"])
    targets = [
        {"name": "median virsh migrate wall-time ratio shim/plain",
         "value": None if wall_ratio is None else round(wall_ratio, 3),
         "target": "<= %.2f" % RATIO_TARGET,
         "met": wall_ratio is not None and wall_ratio <= RATIO_TARGET},
        {"name": "migrations completed in postcopy with guest memory intact",
         "value": "%d/%d" % (n_ok, len(measured)), "target": "all",
         "met": n_ok == len(measured) and len(measured) > 0},
    ]
    params = params_from(args.param)
    doc = {"part": "libvirt", "params": params, "results": measured,
           "summary": {"migrate": summary, "wall_ratio": wall_ratio,
                       "hook": hook.get("ops", {}), "hook_baseline": hook.get("baseline"),
                       "hook_in_libvirtd": observed},
           "targets": targets}

    md = ["## libvirt: `virsh migrate --live --postcopy --postcopy-after-precopy`", ""]
    md.append("Parameters: " + "; ".join("%s = %s" % (k, v) for k, v in params.items()) + ".")
    md.append("")
    md.append("| arm | runs ok | median wall time | range |")
    md.append("|---|---:|---:|---:|")
    labels = {"plain": "plain: knob 1, no hook, no broker",
              "shim": "shim: knob 0, hook + broker"}
    for arm in ("plain", "shim"):
        s = summary[arm]
        md.append("| %s | %d | %s s | %s - %s s |" % (labels[arm], s["n"], fmt(s["median_s"], 2),
                                                   fmt(s["min_s"], 2), fmt(s["max_s"], 2)))
    md.append("")
    md.append("Median ratio shim/plain: %s." % fmt_ratio(wall_ratio))
    md.append("")
    md.append("| run | arm | ok | wall time | postcopy | memcheck | hook calls seen in libvirtd | load |")
    md.append("|---|---|---|---:|---|---|---:|---:|")
    for r in measured:
        md.append("| %s | %s | %s | %s s | %s | %s | %s | %s |" % (
            r["run"], r["arm"], "yes" if r["ok"] else "**no**", fmt(r["seconds"], 2),
            "yes" if r.get("postcopy") else "no", r.get("memcheck", "n/a"),
            fmt(r.get("hook_calls")), fmt(r.get("loadavg"), 2)))
    for r in measured:
        if not r["ok"]:
            md.append("")
            md.append("Run %s failed: %s" % (r["run"], r.get("error", "see its log")))
    if hook:
        md.append("")
        md.append("The hook's own time per libvirt operation (the installed `uffd-shim-hook` run "
                  "%s times per operation with a %s-byte domain XML on stdin and a running broker; "
                  "wall time from spawn to exit, ms; the harness itself, spawning `%s`, "
                  "takes median %s ms, p99 %s ms):"
                  % (hook.get("iterations"), hook.get("xml_bytes"),
                     (hook.get("baseline") or {}).get("command", "true"),
                     fmt((hook.get("baseline") or {}).get("median"), 3),
                     fmt((hook.get("baseline") or {}).get("p99"), 3)))
        md.append("")
        md.append("| operation | what the hook does | median | p99 | max |")
        md.append("|---|---|---:|---:|---:|")
        for op, s in hook.get("ops", {}).items():
            md.append("| `%s` | %s | %s | %s | %s |" % (op, s.get("does", ""), fmt(s["median"], 3),
                                                     fmt(s["p99"], 3), fmt(s["max"], 3)))
    if observed.get("ops"):
        md.append("")
        md.append("The same, as libvirtd saw it during the measured shim migrations (its debug log, "
                  "`util.hook` and `util.command`: from \"Calling hook\" to the command's result, "
                  "ms, millisecond timestamps; includes libvirtd's own fork, exec and pipe "
                  "handling):")
        md.append("")
        md.append("| operation | host | calls | median | p99 | max |")
        md.append("|---|---|---:|---:|---:|---:|")
        for key, s in observed["ops"].items():
            op, _, host = key.partition("@")
            md.append("| `%s` | %s | %d | %s | %s | %s |" % (op, host, s["n"], fmt(s["median"], 3),
                                                          fmt(s["p99"], 3), fmt(s["max"], 3)))
    md.append("")
    md += targets_table(targets)
    write_part(args.outdir, "libvirt", doc, "\n".join(md))
    return 0


# ---- evacuate ------------------------------------------------------------------

def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return {"n": 0, "median": None, "min": None, "max": None}
    return {"n": len(values), "median": median(values), "min": min(values), "max": max(values)}


def evacuate(args):
    d = os.path.join(args.outdir, "evacuate")
    evacs = [e for e in read_jsonl(os.path.join(d, "evacuations.jsonl")) if not e.get("warmup")]
    guests = [g for g in read_jsonl(os.path.join(d, "guests.jsonl")) if not g.get("warmup")]
    levels = sorted({e["level"] for e in evacs})
    summary = {}
    for n in levels:
        s = {}
        for arm in ("plain", "shim"):
            ev = [e for e in evacs if e["level"] == n and e["arm"] == arm]
            gs = [g for g in guests if g["level"] == n and g["arm"] == arm]
            # Times count where the migrations completed (in postcopy),
            # whatever the checks after them found: an evacuation with a
            # failed migration measures something else; memory integrity is
            # reported next to them.
            done = [g for g in gs if g.get("rc") == 0 and g.get("postcopy")]
            s[arm] = {
                "evacuations": len(ev), "evacuations_ok": sum(1 for e in ev if e["ok"]),
                "wall_s": spread([e.get("wall_s") for e in ev
                                  if e.get("guests_migrated", 0) == e.get("guests")]),
                # every guest an evacuation was to move, also those that
                # never started
                "guests": sum(e.get("guests", 0) for e in ev),
                "guests_ok": sum(1 for g in gs if g["ok"]),
                "guests_migrated": len(done),
                "memcheck_failed": sum(1 for g in gs if g.get("memcheck", "").startswith("memcheck")),
                "migration_s": spread([g.get("seconds") for g in done]),
                "total_ms": spread([g.get("total_ms") for g in done]),
                "downtime_ms": spread([g.get("downtime_ms") for g in done]),
                "postcopy_requests": spread([g.get("postcopy_requests") for g in done]),
            }
        s["wall_ratio"] = ratio(s["shim"]["wall_s"]["median"], s["plain"]["wall_s"]["median"])
        summary[str(n)] = s
    n_ok = sum(1 for g in guests if g["ok"])
    n_all = sum(e.get("guests", 0) for e in evacs)
    targets = [{"name": "guests evacuated in postcopy with memory intact (every level, both arms)",
                "value": "%d/%d" % (n_ok, n_all), "target": "all",
                "met": n_ok == n_all and n_all > 0}]
    if levels:
        top = summary[str(levels[-1])]
        r = top["wall_ratio"]
        targets.append({"name": "median evacuation wall-time ratio shim/plain at N=%d" % levels[-1],
                        "value": None if r is None else round(r, 3),
                        "target": "<= %.2f" % RATIO_TARGET,
                        "met": r is not None and r <= RATIO_TARGET})
    params = params_from(args.param)
    doc = {"part": "evacuate", "params": params, "results": {"evacuations": evacs, "guests": guests},
           "summary": summary, "targets": targets}

    md = ["## Evacuation: N guests migrated into one destination at once, postcopy", ""]
    md.append("Parameters: " + "; ".join("%s = %s" % (k, v) for k, v in params.items()) + ".")
    md.append("")
    md.append("Wall time: first `virsh migrate` started to last one completed (evacuations "
              "whose every migration completed in postcopy). Per guest (migrations completed "
              "in postcopy): its `virsh migrate` wall time, and the total time, downtime and "
              "pages requested by the destination that libvirt reports for it (the source's "
              "`job-completed` event: `time_elapsed`, `downtime`, `memory_postcopy_requests`). "
              "Medians over the guests of all evacuations of a level, range in brackets. "
              "Guests ok: migrated, running on the destination without DMA error, memory "
              "intact (memcheck) and, in the shim arm, served by the broker. plain: knob 1, "
              "no hook, no broker; shim: knob 0, hook + broker.")
    md.append("")
    md.append("| N | arm | evacuations ok | wall time s | per-guest migrate s | total time ms "
              "| downtime ms | page requests | guests migrated | guests ok | memcheck failed "
              "| wall ratio shim/plain |")
    md.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def cell(st, digits):
        if not st["n"]:
            return "n/a"
        return "%s (%s - %s)" % (fmt(st["median"], digits), fmt(st["min"], digits),
                                 fmt(st["max"], digits))

    for n in levels:
        s = summary[str(n)]
        for arm in ("plain", "shim"):
            a = s[arm]
            md.append("| %d | %s | %d/%d | %s | %s | %s | %s | %s | %d/%d | %d/%d | %d | %s |" % (
                n, arm, a["evacuations_ok"], a["evacuations"], cell(a["wall_s"], 2),
                cell(a["migration_s"], 2), cell(a["total_ms"], 0), cell(a["downtime_ms"], 0),
                cell(a["postcopy_requests"], 0),
                a["guests_migrated"], a["guests"], a["guests_ok"], a["guests"], a["memcheck_failed"],
                fmt_ratio(s["wall_ratio"]) if arm == "shim" else ""))
    md.append("")
    md += targets_table(targets)
    md.append("")
    md.append("Evacuations in the order they ran (load: 1-minute load average after the "
              "migrations):")
    md.append("")
    md.append("| N | run | arm | ok | guests ok | wall time s | load |")
    md.append("|---:|---|---|---|---:|---:|---:|")
    for e in evacs:
        md.append("| %d | %s | %s | %s | %d/%d | %s | %s |" % (
            e["level"], e["run"], e["arm"], "yes" if e["ok"] else "**no**", e.get("guests_ok", 0),
            e.get("guests", 0), fmt(e.get("wall_s"), 2), fmt(e.get("loadavg"), 2)))
    bad = [g for g in guests if not g["ok"]]
    if bad:
        md.append("")
        md.append("Guests that failed:")
        md.append("")
        for g in bad:
            md.append("* N=%d run %s %s `%s`: %s" % (g["level"], g["run"], g["arm"], g["domain"],
                                                    g.get("error", "see its log")))
    write_part(args.outdir, "evacuate", doc, "\n".join(md))
    return 0


# ---- combine -------------------------------------------------------------------

def combine(args):
    with open(args.machine) as f:
        machine = json.load(f)
    parts = []
    missing = []
    for name in args.parts:
        jp = os.path.join(args.outdir, name + ".json")
        mp = os.path.join(args.outdir, name + ".md")
        try:
            with open(jp) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            missing.append(name)
            doc = {"part": name, "error": "no report: %s" % e, "results": [], "targets": []}
        try:
            with open(mp) as f:
                doc_md = f.read()
        except OSError:
            doc_md = "## %s\n\nNo report (the part failed before writing one).\n" % name
        doc.setdefault("status", machine.get("status", {}).get(name))
        parts.append((doc, doc_md))
    bench = {"machine": {k: v for k, v in machine.items() if k != "status"},
             "parts": [p for p, _ in parts]}
    with open(os.path.join(args.outdir, "bench.json"), "w") as f:
        json.dump(bench, f, indent=2)
        f.write("\n")
    m = machine
    md = ["# uffd-shim benchmarks", ""]
    md.append("| machine | |")
    md.append("|---|---|")
    for key, label in (("date", "date (UTC)"), ("os", "OS"), ("kernel", "kernel"),
                       ("cpu", "CPU"), ("cores", "cores"), ("memory", "memory"),
                       ("virtualization", "KVM"), ("qemu", "QEMU"), ("libvirt", "libvirt"),
                       ("uffd_shim", "uffd-shim"), ("load", "load average at start")):
        if key in m:
            md.append("| %s | %s |" % (label, m[key]))
    md.append("")
    md.append("## Summary")
    md.append("")
    md.append("| part | target | value | wanted | |")
    md.append("|---|---|---:|---|---|")
    for doc, _ in parts:
        st = doc.get("status")
        if not doc.get("targets"):
            md.append("| %s | (no targets%s) | | | |" % (
                doc["part"], "; part failed, exit %s" % st if st else ""))
        for t in doc.get("targets", []):
            md.append("| %s | %s | %s | %s | %s |" % (
                doc["part"], t["name"], fmt_target(t["value"]), t["target"],
                "met" if t["met"] else "**missed**"))
        if st:
            md.append("| %s | part exited with status %s | | | **failed** |" % (doc["part"], st))
    md.append("")
    for _, doc_md in parts:
        md.append(doc_md.rstrip("\n"))
        md.append("")
    text = "\n".join(md)
    with open(os.path.join(args.outdir, "bench.md"), "w") as f:
        f.write(text)
    sys.stdout.write(text)
    return 1 if missing else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("migration", "libvirt", "evacuate"):
        p = sub.add_parser(name)
        p.add_argument("outdir")
        p.add_argument("--param", action="append", metavar="K=V")
    p = sub.add_parser("combine")
    p.add_argument("outdir")
    p.add_argument("--machine", required=True)
    p.add_argument("parts", nargs="+")
    args = ap.parse_args(argv)
    return {"migration": migration, "libvirt": libvirt, "evacuate": evacuate,
            "combine": combine}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())

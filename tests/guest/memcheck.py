#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Check a raw guest RAM dump written by the test guest (guest.S) for lost or stale pages.
"""Check a raw guest memory dump (QMP ``pmemsave 0 128MiB FILE``).

The test guest increments the first byte of every 4 KiB page of
[start, end) in a loop.  A consistent snapshot therefore has the same first
byte in every page, except at most one edge (where the guest was stopped in
the middle of a sweep) at which neighbouring pages differ by exactly one,
modulo 256.  This is the check of QEMU's own migration test.  A page lost
or duplicated by migration shows up as a second edge or a bigger jump.

Exit status: 0 = consistent, 1 = inconsistent, 2 = usage or I/O error.
"""

import argparse
import sys

PAGE = 4096


def parse_size(text):
    """Parse '1M', '96MiB', '4096', '0x100000', '128k' into bytes."""
    t = text.strip().lower()
    for suffix in ("ib", "b"):
        if t.endswith(suffix) and len(t) > len(suffix) and t[-len(suffix) - 1] in "kmg":
            t = t[: -len(suffix)]
            break
    mult = 1
    if t and t[-1] in "kmg":
        mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[t[-1]]
        t = t[:-1]
    try:
        return int(t, 0) * mult
    except ValueError:
        raise argparse.ArgumentTypeError("bad size %r" % text) from None


def check(data, start, end, direction="any", max_report=10):
    """Return (ok, message) for the dump bytes ``data``."""
    if start % PAGE or end % PAGE or start >= end:
        return False, "bad range [%#x, %#x): must be page aligned and non-empty" % (start, end)
    if len(data) < end:
        return False, "dump is %d bytes, shorter than the range end %#x" % (len(data), end)
    firsts = data[start:end:PAGE]
    last = firsts[0]
    edge = None
    bad = []
    for i in range(1, len(firsts)):
        b = firsts[i]
        if b == last:
            continue
        addr = start + i * PAGE
        up = (b + 1) % 256 == last      # lower pages ahead: upward sweep
        down = (last + 1) % 256 == b    # higher pages ahead: downward sweep
        allowed = {"any": up or down, "up": up, "down": down}[direction]
        if allowed and edge is None:
            edge = (addr, last, b)
        else:
            bad.append((addr, last, b))
        last = b
    npages = len(firsts)
    if bad:
        lines = ["FAIL: %d unexpected change(s) of the first byte among %d pages in [%#x, %#x)"
                 % (len(bad), npages, start, end)]
        if edge:
            lines.append("  allowed edge at %#x: %#04x -> %#04x" % edge)
        for addr, prev, b in bad[:max_report]:
            lines.append("  at %#x: previous page %#04x, this page %#04x" % (addr, prev, b))
        if len(bad) > max_report:
            lines.append("  ... %d more" % (len(bad) - max_report))
        return False, "\n".join(lines)
    if edge:
        where = "edge at %#x (%#04x -> %#04x)" % edge
    else:
        where = "no edge, all %#04x" % firsts[0]
    return True, "OK: %d pages in [%#x, %#x) consistent, %s" % (npages, start, end, where)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dump", help="raw guest RAM dump, guest physical address 0 first")
    ap.add_argument("--start", type=parse_size, default=1 << 20, help="range start (default 1M)")
    ap.add_argument("--end", type=parse_size, default=96 << 20, help="range end (default 96M)")
    ap.add_argument("--direction", choices=("any", "up", "down"), default="any",
                    help="sweep direction of the guest, for the edge's sign (default any)")
    args = ap.parse_args(argv)
    if args.start % PAGE or args.end % PAGE or args.start >= args.end:
        print("memcheck: bad range [%#x, %#x): must be page aligned and non-empty"
              % (args.start, args.end), file=sys.stderr)
        return 2
    try:
        with open(args.dump, "rb") as f:
            data = f.read(args.end)
    except OSError as e:
        print("memcheck: cannot read %s: %s" % (args.dump, e), file=sys.stderr)
        return 2
    ok, msg = check(data, args.start, args.end, args.direction)
    print("memcheck: %s" % msg)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

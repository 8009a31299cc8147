"""``python -m transports.venues.paper``: the paper gateway without the ``cmc`` CLI."""

from __future__ import annotations

import argparse
import sys

from transports.venues.paper.run import main

if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m transports.venues.paper")
    ap.add_argument("--conf", required=True)
    ap.add_argument("--sock", required=True)
    ap.add_argument("--venue", default=None)
    ap.add_argument("--md-from", default=None)
    ap.add_argument("--truth-out", default=None)
    ap.add_argument("--duration", type=float, default=None)
    a = ap.parse_args()
    sys.exit(main(a.conf, a.sock, venue=a.venue, md_from=a.md_from, truth_out=a.truth_out,
                  duration_s=a.duration))

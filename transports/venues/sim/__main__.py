"""``python -m transports.venues.sim``: run the simulator gateway process."""

from __future__ import annotations

import argparse
import sys

from transports.venues.sim.gateway import main


def cli(argv: list[str] | None = None) -> int:
    """Parse the command line and run ``gateway.main``."""
    ap = argparse.ArgumentParser(prog="python -m transports.venues.sim", description=__doc__)
    ap.add_argument("--conf", default=None, help="config TOML (default: the embedded demo)")
    ap.add_argument("--sock-dir", required=True, help="replaces {sock} in the venue addresses")
    ap.add_argument("--truth-out", default=None, help="write the ground truth JSON here at exit")
    ap.add_argument("--duration", type=float, default=None, help="seconds; default: until stopped")
    ap.add_argument("--seed", type=int, default=None, help="override sim.seed")
    ap.add_argument(
        "--faults", default=None, metavar="NAME", help="fault preset conf/faults/NAME.toml"
    )
    a = ap.parse_args(argv)
    return main(a.conf, a.sock_dir, a.truth_out, a.duration, a.seed, faults=a.faults)


if __name__ == "__main__":
    sys.exit(cli())

"""Per-handler profile of the hot path (a dev tool): where a tick's microseconds go.

Runs the floor's cores, ticks and venue (``scripts.bench.floor``: the host's ``Dispatcher`` in
one thread, a snapshot for each bench venue, then ``Delta`` ticks alternating on bench-a and
bench-b, every ``NewOrder`` answered with an immediate venue ``Reject``, in the floor's virtual
time: the same decisions in every run, however slow the profiling makes it). Each ``core.handle`` is
timed with ``perf_counter_ns`` and charged to (actor, message type); the decode of the venue
frame and the encode of each ``@oe`` message are charged to pseudo-actors. Prints a table of
per-call p50 / mean / p99 and the per-tick total.

    NUMBA_CACHE_DIR=/tmp/nc .venv/bin/python -m scripts.bench.profile_hot_path [--ticks N]
"""

from __future__ import annotations

import argparse
import collections
import time
from typing import Any

import numpy as np

import kernels
from actors.runtime.dispatch import Sink
from scripts.bench.floor import (
    FLOOR_T0_NS,
    WARM_TICKS,
    Floor,
    floor_ticks,
    load_snapshots,
    reject_all,
)
from scripts.bench.tick_to_trade import bench_config
from transports.hdr import LatencyHist
from transports.wire.codec import Codec, encode
from transports.wire.venue_msgs import MdMessage, NewOrder


class _Timed:
    """Times each ``handle`` of one core and charges it to (actor, message type)."""

    __slots__ = ("core", "name", "prof")

    def __init__(self, name: str, core: Any, prof: _Profile) -> None:
        self.name, self.core, self.prof = name, core, prof

    def handle(self, msg: Any, now_ns: int) -> Any:
        pc = time.perf_counter_ns
        t0 = pc()
        out = self.core.handle(msg, now_ns)
        t1 = pc()
        if self.prof.recording:
            self.prof.times[(self.name, type(msg).__name__)].append(t1 - t0)
        return out


class _Profile(Sink):
    """The profile's venue (each ``@oe`` message encoded and timed) and its numbers."""

    def __init__(self) -> None:
        self.times: dict[tuple[str, str], list[int]] = collections.defaultdict(list)
        self.recording = False
        self.orders: list[NewOrder] = []

    def send(self, actor: str, key: str, msg: Any) -> None:
        if key != "oe":
            return
        t0 = time.perf_counter_ns()
        encode(msg)
        t1 = time.perf_counter_ns()
        if self.recording:
            self.times[("(encode)", type(msg).__name__)].append(t1 - t0)
        if isinstance(msg, NewOrder):
            self.orders.append(msg)


def profile(n_ticks: int) -> tuple[dict[tuple[str, str], list[int]], int]:
    """Run the ticks; return per-(actor, message) handle times (ns) and the ticks measured."""
    cfg = bench_config()
    prof = _Profile()
    floor = Floor(cfg, prof, lambda name, core: _Timed(name, core, prof))
    md = Codec[Any](MdMessage)
    pc = time.perf_counter_ns
    times, orders = prof.times, prof.orders
    floor.start(FLOOR_T0_NS)
    load_snapshots(floor, FLOOR_T0_NS)
    for i, (venue, now_ns, frame) in enumerate(floor_ticks(n_ticks)):
        prof.recording = i >= WARM_TICKS
        n_before = len(orders)
        t0 = pc()
        msg = md.decode(frame)
        t1 = pc()
        if prof.recording:
            times[("(decode)", "Delta")].append(t1 - t0)
        floor.run(f"feed.{venue}", msg, now_ns)
        reject_all(floor, orders[n_before:], now_ns)
    return times, n_ticks


def print_table(times: dict[tuple[str, str], list[int]], n_ticks: int) -> None:
    """Print per-call p50 / mean / p99 (µs), calls per tick and µs per tick, costliest first."""
    rows = []
    for (actor, kind), ts in times.items():
        a = np.asarray(ts, np.float64) / 1e3
        per_tick = a.sum() / n_ticks
        p50, p99 = (v / 1e3 for v in LatencyHist.of(ts).percentiles_ns([50, 99]))
        rows.append((per_tick, actor, kind, len(a) / n_ticks, p50, a.mean(), p99))
    rows.sort(reverse=True)
    print(f"{'actor':<22}{'message':<14}{'calls/tick':>11}{'p50 µs':>9}{'mean µs':>9}"
          f"{'p99 µs':>9}{'µs/tick':>9}")
    for per_tick, actor, kind, calls, p50, mean, p99 in rows:
        print(f"{actor:<22}{kind:<14}{calls:>11.2f}{p50:>9.2f}{mean:>9.2f}{p99:>9.2f}"
              f"{per_tick:>9.2f}")
    print(f"{'total (includes the untimed-in-floor Reject path)':<56}"
          f"{sum(r[0] for r in rows):>25.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int, default=20_000)
    args = ap.parse_args()
    kernels.warm_up()
    times, n = profile(args.ticks)
    print_table(times, n)


if __name__ == "__main__":
    main()

"""Per-handler profile of the hot path (a dev tool): where a tick's microseconds go.

Builds the bench config's cores and routes them with the host's own ``Dispatcher`` in one
thread (as ``scripts.bench.tick_to_trade.run_floor`` does), loads a snapshot for each bench venue,
then alternates ``Delta`` ticks on bench-a and bench-b, answering every ``NewOrder`` with an
immediate venue ``Reject``, in the floor's virtual time (``FLOOR_T0_NS``, ``FLOOR_STEP_NS`` per
tick: the same decisions in every run, however slow the profiling makes it). Each
``core.handle`` is
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

import msgspec
import numpy as np

import kernels
from actors.runtime.dispatch import Dispatcher, Sink
from actors.runtime.node import build_shells
from scripts.bench.tick_to_trade import FLOOR_STEP_NS, FLOOR_T0_NS, bench_config
from transports.clock import LiveClock
from transports.hdr import LatencyHist
from transports.latency import LatencyRecorder
from transports.wire.codec import Codec, encode
from transports.wire.venue_msgs import Delta, MdMessage, NewOrder, Reject, Snapshot

SYMS = {"bench-a": ("au2606", 30_700), "bench-b": ("GCZ6", 26_500),
        "bench-fx": ("USDCNH", 72_000)}
WARM_TICKS = 400


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
    if hasattr(cfg.risk, "max_reject_rate"):
        # the bench venue rejects every order; the risk supervisor's reject-rate rule would
        # switch the legs to REDUCING after a few ticks and no order would be sent again
        cfg = msgspec.structs.replace(
            cfg, risk=msgspec.structs.replace(cfg.risk, max_reject_rate=1.0))
    clock = LiveClock()
    names = {a for g in cfg.placement.groups for a in g.actors} - {"journal"}  # type: ignore[union-attr]
    shells = build_shells(cfg, "/x", clock, LatencyRecorder(), None, names)
    prof = _Profile()
    cores = {n: _Timed(n, s.core, prof) for n, s in shells.items()}
    md = Codec[Any](MdMessage)
    pc = time.perf_counter_ns
    times, orders = prof.times, prof.orders
    disp = Dispatcher(cores, prof, journaling=False, fire=False)

    def run(dest: str, msg: Any, now_ns: int) -> None:
        disp.route("@md", [(dest, msg)], now_ns)

    now = FLOOR_T0_NS
    for name, timed in cores.items():
        disp.start(name, timed.core, now)
    for venue, (sym, mid) in SYMS.items():
        snap = Snapshot(sym=sym, seq=0, ts=now, b=[(mid - 1 - i, 100) for i in range(5)],
                        a=[(mid + 1 + i, 100) for i in range(5)])
        run(f"feed.{venue}", snap, now)
    seqs = {"bench-a": 0, "bench-b": 0}
    for i in range(n_ticks + WARM_TICKS):
        venue = "bench-a" if i % 2 == 0 else "bench-b"
        sym, mid = SYMS[venue]
        seqs[venue] += 1
        now_ns = now + (i + 1) * FLOOR_STEP_NS
        frame = encode(Delta(sym=sym, seq=seqs[venue], ts=now_ns, b=[(mid - 1, 100 + i % 7)],
                             a=[]))
        prof.recording = i >= WARM_TICKS
        n_before = len(orders)
        t0 = pc()
        msg = md.decode(frame)
        t1 = pc()
        if prof.recording:
            times[("(decode)", "Delta")].append(t1 - t0)
        run(f"feed.{venue}", msg, now_ns)
        for o in orders[n_before:]:
            leg = "leg.bench-a" if o.sym == "au2606" else "leg.bench-b"
            run(leg, Reject(cl=o.cl, code="bench", reason="bench", ts=0), now_ns)
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

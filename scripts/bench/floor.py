"""The floor of ``cmc bench tick-to-trade``: the hot cores as direct calls, in virtual time.

The cores of the bench config (every placed actor but the journal) are built as a node builds
them (``build_shells``) and run in this thread through one ``Dispatcher`` (the host's routing
rule, no journal, timers armed but never due), without the hosts' threads and sockets: a venue
frame is decoded and routed to its feed and run to completion; the time from before the decode
to each ``NewOrder`` handed to the venue (``_FloorSink``) is the tick's latency. The bench
(``run_floor``) and the profiler (``scripts.bench.profile_hot_path``) share this module, so they
run the same ticks through the same cores.

Virtual time: the ticks carry, and the cores see, ``FLOOR_T0_NS + i × FLOOR_STEP_NS``; latency
is wall time. So every run decides the same: the orders and a digest of their prices are checked
against ``FLOOR_DECISIONS`` (``check_decisions``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

from actors.runtime.checkpoint import dump_cores, reload_cores
from actors.runtime.dispatch import Dispatcher, Sink
from actors.runtime.gc_policy import GcPolicy
from actors.runtime.node import build_shells
from transports.clock import LiveClock, perf_ns, sleep_s
from transports.config.engine import AppConfig
from transports.errors import CmcError
from transports.hdr import LatencyHist
from transports.latency import LatencyRecorder
from transports.wire.codec import Codec, encode
from transports.wire.venue_msgs import Delta, MdMessage, NewOrder, Reject, Snapshot

#: the floor's virtual time: a fixed start (2026-01-05 00:00 UTC) and one tick per 100 µs (10k
#: ticks/s). The cores see this time, never the wall clock, so the decisions of a floor run are
#: the same in every run and on every machine however long a tick takes (with the wall clock,
#: a slow run aged the quotes past ``max_quote_age_ms`` and decided less)
FLOOR_T0_NS = 1_767_571_200_000_000_000
FLOOR_STEP_NS = 100_000
#: ticks before the measured ones (warm caches, the z-score window filling)
WARM_TICKS = 400
#: the decisions of a floor run, per ``n_ticks``: (orders sent, sha256 of their "sym side px qty"
#: lines in order). A change of the hot path must not change them (``check_decisions``); a
#: deliberate change of the strategy's decisions updates them here
FLOOR_DECISIONS: dict[int, tuple[int, str]] = {
    300: (1000, "b70dc5695375d2f255095c8c21f578f3c210faecd74a2855c04e1117f90e582b"),
    5_000: (10400, "f8224d36ba50ba0113a4f225d1ccc30d4b7d27f65d230b95f40cbc3fe175b7c6"),
    30_000: (60400, "d67fb8acd5c45b1018408f8626956a686d8f39e8408bbc09a06c737b7c3e17b3"),
}
#: the bench's venues: symbol and mid (ticks); ticks alternate between the two traded ones
SYMS = {"bench-a": ("au2606", 30_700), "bench-b": ("GCZ6", 26_500),
        "bench-fx": ("USDCNH", 72_000)}
#: the LegExecutor that sent an order for a symbol (the venue's reject goes back to it)
LEG_OF = {"au2606": "leg.bench-a", "GCZ6": "leg.bench-b"}


def pcts(hist: LatencyHist) -> dict[str, float]:
    """A row's ``n``, ``p50``, ``p99`` and ``p999`` (µs) from the HDR histogram."""
    if not hist.count:
        return {"n": 0, "p50": float("nan"), "p99": float("nan"), "p999": float("nan")}
    s = hist.summary_us((50, 99, 99.9), 2)
    return {"n": s["count"], "p50": s["p50"], "p99": s["p99"], "p999": s["p999"]}


class BenchError(CmcError):
    """The bench's floor decided differently from its reference (``FLOOR_DECISIONS``)."""


def orders_digest(orders: list[NewOrder]) -> str:
    """sha256 (hex) of the orders' ``sym side px qty`` lines, in order."""
    h = hashlib.sha256()
    for o in orders:
        h.update(f"{o.sym} {o.side} {o.px} {o.qty}\n".encode())
    return h.hexdigest()


def check_decisions(floor: dict[str, Any], n_ticks: int) -> None:
    """Raise ``BenchError`` if a floor run of ``n_ticks`` sent other orders than its reference
    (no reference for that length: nothing to check)."""
    ref = FLOOR_DECISIONS.get(n_ticks)
    got = (floor["orders"], floor["orders_digest"])
    if ref is not None and got != ref:
        raise BenchError(f"the floor's decisions changed: {got} != reference {ref} "
                         f"({n_ticks} ticks)")


class _FloorSink(Sink):
    """The floor's venue: each ``@oe`` message is encoded; a NewOrder's send time is taken."""

    def __init__(self) -> None:
        self.orders: list[NewOrder] = []
        self.sent_ns: list[int] = []

    def send(self, actor: str, key: str, msg: Any) -> None:
        if key == "oe":
            encode(msg)
            if isinstance(msg, NewOrder):
                self.sent_ns.append(perf_ns())  # same instant the pipeline stamps
                self.orders.append(msg)


class Floor:
    """The bench config's cores (the journal left out) and one ``Dispatcher`` over them, in this
    thread. ``wrap(name, core)`` may wrap each core the dispatcher calls (the profiler times
    them)."""

    def __init__(self, cfg: AppConfig, venue: Sink,
                 wrap: Callable[[str, Any], Any] | None = None) -> None:
        names = {a for g in cfg.placement.groups for a in g.actors} - {"journal"}  # type: ignore[union-attr]
        shells = build_shells(cfg, "/nonexistent", LiveClock(), LatencyRecorder(), None, names)
        #: actor -> its core
        self.cores = {n: s.core for n, s in shells.items()}
        #: the host's routing without the host: no journal, timers armed but never due here
        self.dispatch = Dispatcher({n: (wrap(n, c) if wrap else c) for n, c in self.cores.items()},
                                   venue, journaling=False, fire=False)

    def start(self, now_ns: int) -> None:
        """Start every core (``on_start``)."""
        for name, core in self.cores.items():
            self.dispatch.start(name, core, now_ns)

    def run(self, dest: str, msg: Any, now_ns: int) -> None:
        """Route ``msg`` (from the venue) to ``dest`` and everything it causes."""
        self.dispatch.route("@md", [(dest, msg)], now_ns)

    def checkpoint(self) -> int:
        """Checkpoint the cores as a host does and go on with the ones loaded from it
        (``actors.runtime.host.supervised_host``, ``_continue_from``); return its bytes. Only
        for the unwrapped cores (the profiler's wrappers are not pickled)."""
        blob, externals = dump_cores(dict(self.cores), {})
        for name, core in reload_cores(blob, externals, dict(self.cores)).items():
            self.cores[name] = self.dispatch.handlers[name] = core
        return len(blob)


def floor_ticks(n_ticks: int) -> Iterator[tuple[str, int, bytes]]:
    """The floor's ticks: (venue, virtual time ns, encoded ``Delta`` frame), ``WARM_TICKS``
    first, alternating between the two traded venues."""
    seqs = {"bench-a": 0, "bench-b": 0}
    for i in range(n_ticks + WARM_TICKS):
        venue = "bench-a" if i % 2 == 0 else "bench-b"
        sym, mid = SYMS[venue]
        seqs[venue] += 1
        now_ns = FLOOR_T0_NS + (i + 1) * FLOOR_STEP_NS
        yield venue, now_ns, encode(Delta(sym=sym, seq=seqs[venue], ts=now_ns,
                                          b=[(mid - 1, 100 + i % 7)], a=[]))


def load_snapshots(floor: Floor, now_ns: int) -> None:
    """Give every bench venue's feed a 5-level snapshot around its mid."""
    for venue, (sym, mid) in SYMS.items():
        snap = Snapshot(sym=sym, seq=0, ts=now_ns, b=[(mid - 1 - i, 100) for i in range(5)],
                        a=[(mid + 1 + i, 100) for i in range(5)])
        floor.run(f"feed.{venue}", snap, now_ns)


def reject_all(floor: Floor, orders: list[NewOrder], now_ns: int) -> None:
    """The venue rejects ``orders`` at once (not timed), so the strategy is flat for the next
    tick."""
    for o in orders:
        floor.run(LEG_OF[o.sym], Reject(cl=o.cl, code="bench", reason="bench", ts=0), now_ns)


def run_floor(cfg: AppConfig, n_ticks: int, idle_s: float = 0.0,
              checkpoint: bool = False) -> dict[str, Any]:
    """Run the cores by direct calls in this thread, in virtual time (``FLOOR_STEP_NS`` per
    tick); return latency percentiles (µs, wall clock: frame decoded -> order frame encoded),
    the orders sent and their digest.

    ``idle_s`` > 0: the thread sleeps that long after each tick (the *idle floor*): the same
    work and decisions, but each tick starts as a pipeline's does at a low rate, on a CPU that
    went idle (caches, branch predictors and the core's clock cooled down, the hypervisor
    descheduled the vCPU). The ratio of the two floors is what waking costs on the machine,
    before any framework overhead.

    ``checkpoint``: the cores are checkpointed before the first tick, as a host does every
    ``checkpoint_interval_s`` (``Floor.checkpoint``), and the ticks run through the cores the
    host goes on with (the *checkpointed floor*: a checkpoint must not slow the cores down,
    ``actors.runtime.checkpoint``, "Attribute speed")."""
    sink = _FloorSink()
    orders, sent_ns = sink.orders, sink.sent_ns
    floor = Floor(cfg, sink)
    floor.start(FLOOR_T0_NS)
    load_snapshots(floor, FLOOR_T0_NS)
    if checkpoint:
        floor.checkpoint()
    md = Codec[Any](MdMessage)
    frames = list(floor_ticks(n_ticks))
    lat = LatencyHist()
    ticks_with_orders = 0
    # the collector as a host keeps it (``actors.runtime.gc_policy.GcPolicy``), between two
    # ticks as a host does between two dispatch cycles: the floor is the hosted cores' cost
    gcp = GcPolicy()
    run = floor.run
    for i, (venue, now_ns, frame) in enumerate(frames):
        gcp.due(perf_ns())
        n_before = len(orders)
        t0 = perf_ns()
        run(f"feed.{venue}", md.decode(frame), now_ns)
        if len(orders) > n_before:
            if i >= WARM_TICKS:
                ticks_with_orders += 1
                for t in sent_ns[n_before:]:
                    lat.record(t - t0)
            reject_all(floor, orders[n_before:], now_ns)
        if idle_s:
            sleep_s(idle_s)
    return {**pcts(lat),
            "orders_per_tick": round(ticks_with_orders / max(1, len(frames) - WARM_TICKS), 3),
            "orders": len(orders), "orders_digest": orders_digest(orders)}


__all__ = ["FLOOR_DECISIONS", "FLOOR_STEP_NS", "FLOOR_T0_NS", "LEG_OF", "SYMS", "WARM_TICKS",
           "BenchError", "Floor", "check_decisions", "floor_ticks", "load_snapshots",
           "orders_digest", "pcts", "reject_all", "run_floor"]

"""What-if replay (``cmc replay --set KEY=VALUE --fill-model book``).

The recorded market data (``@md``, ``@ref``) and operator commands (``Flatten``, ``Halt``,
``Reduce``, ``Resume`` told from outside) drive fresh cores of every actor, built from the run's
config with the ``--set`` changes, in one ``actors.runtime.dispatch.Dispatcher`` (the host's
rules; cross-group hops become calls). Timers run on the replay clock. Orders go to a
``BookVenue`` per venue (``scripts.replay.venue``) which fills them against the replayed books
with the venue's recorded round trip. The result is the ``cmc demo`` summary computed from the
simulated orders and fills, plus what changed (``what_if``: the run replayed, the changes).
Its opportunities are the recorded run's ground truth (the simulator's windows in the run
directory's ``truth.json``); without one (a launch's run) they are unknown (``None``), not 0.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from actors.runtime.dispatch import Dispatcher, Sink
from actors.runtime.node import actor_names
from scripts.demo.summary import build_summary
from scripts.replay.core import build_cores
from scripts.replay.venue import BookVenue, estimate_rtt
from transports.config.engine import AppConfig
from transports.journal.format import T_BATCH, decode_batch_raw, decode_item, is_map
from transports.journal.reader import JournalReader
from transports.journal.writer import base_path
from transports.wire.messages import ComboIntent, Decision, Flatten, Halt, Reduce, Resume
from transports.wire.venue_msgs import Ack, NewOrder

#: operator commands a what-if replays (told from outside the group, journaled from ``@group``)
OPERATOR_CMDS: tuple[type, ...] = (Flatten, Halt, Reduce, Resume)
#: how long after the last recorded event timers and venue answers still run
TAIL_NS = 15_000_000_000


class Recorded(msgspec.Struct):
    """What a what-if replay needs from the journal."""

    inputs: list[tuple[int, int, str, str, Any]]  #: (ts, seq, src, dest, message)
    sends: list[tuple[str, str, int]]  #: (venue, cl, ts) of NewOrders
    acks: list[tuple[str, str, int]]  #: (venue, cl, ts) of Acks received
    intents: list[tuple[int, str, int, float]]  #: (combo_id, action, direction, z)
    first_ts: int
    last_ts: int


def read_recorded(journal: str | Path, progress: Callable[[int], None] | None = None) -> Recorded:
    """Collect the external inputs, order round trips and decisions of a journal."""
    inputs: list[tuple[int, int, str, str, Any]] = []
    sends, acks, intents = [], [], []
    first = last = 0
    for frame in JournalReader(journal):
        if frame.rtype != T_BATCH:
            continue
        ts, _group, items = decode_batch_raw(frame.body)
        first = first or ts
        last = max(last, ts)
        for src, dest, raw in items:
            if src == "@md" or src == "@ref":
                inputs.append((ts, len(inputs), src, dest, decode_item(src, dest, raw)))
            elif dest.endswith("@oe") and is_map(raw):
                m = decode_item(src, dest, raw)
                if isinstance(m, NewOrder):
                    sends.append((dest[4:-3], m.cl, ts))
            elif src == "@oe":
                m = decode_item(src, dest, raw)
                if isinstance(m, Ack):
                    acks.append((dest[4:], m.cl, ts))
            elif src == "@group" and not is_map(raw):
                m = decode_item(src, dest, raw)
                if isinstance(m, OPERATOR_CMDS):
                    inputs.append((ts, len(inputs), src, dest, m))
            elif dest == "combo" and not is_map(raw):
                m = decode_item(src, dest, raw)
                if isinstance(m, ComboIntent):
                    intents.append((m.combo_id, m.action, m.direction, round(m.z, 9)))
        if progress is not None:
            progress(len(frame.body))
    inputs.sort(key=lambda x: (x[0], x[1]))
    return Recorded(inputs, sends, acks, intents, first, last)


class _Effects(Sink):
    """Where a what-if's effects go: orders to the simulated venues, decisions kept."""

    def __init__(self, sim: WhatIf) -> None:
        self.sim = sim

    def send(self, actor: str, key: str, msg: Any) -> None:
        sim = self.sim
        v = sim.venues.get(actor[4:]) if key == "oe" else None
        if v is not None:
            heapq.heappush(sim._venue_q,
                           (sim.now + v.rtt_ns // 2, sim._next_seq(), "arrive", v.venue, msg))

    def forward(self, dest: str, msg: Any) -> None:
        if dest == "journal":
            self.sim.decisions.append(msg)

    def failed(self, actor: str, exc: BaseException, now_ns: int) -> None:
        # as the host: counted and kept, the run goes on
        self.sim.errors[actor] = self.sim.errors.get(actor, 0) + 1
        self.sim.decisions.append(Decision(actor, "error", repr(exc), now_ns))


class WhatIf:
    """Every actor's core in one dispatcher, a replay clock, timers and the book fill model."""

    def __init__(self, cfg: AppConfig, rtt_ns: dict[str, int]) -> None:
        self.cfg = cfg
        names = [a for a in actor_names(cfg) if a != "journal"]
        self.cores = build_cores(cfg, names)
        self.order = [n for n in names if n in self.cores]
        self.now = 0
        self.dispatch = Dispatcher(self.cores, _Effects(self), journaling=False,
                                   observe=self._observe)
        self._venue_q: list[tuple[int, int, str, str, Any]] = []
        self._seq = 0
        self.intents: list[ComboIntent] = []
        self.decisions: list[Any] = []
        self.errors: dict[str, int] = {}
        self.venues: dict[str, BookVenue] = {}
        for v in cfg.venues:
            if not v.trading:
                continue
            fees = {c.sym: c.fee_per_lot for c in cfg.contracts if c.venue == v.name}
            self.venues[v.name] = BookVenue(
                v.name, v.account, rtt_ns.get(v.name, 1_000_000), fees, self._book_reader(v.name)
            )

    def _book_reader(self, venue: str) -> Callable[[str], Any]:
        def levels(sym: str) -> Any:
            core = self.cores.get(f"book.{venue}:{sym}")
            if core is None or not core.valid:
                return None
            return core.levels()

        return levels

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _observe(self, actor: str, msg: Any, _core: Any, _now: int) -> None:
        if type(msg) is ComboIntent:
            self.intents.append(msg)

    def route(self, src: str, out: list[tuple[str, Any]], now: int) -> None:
        """Deliver ``out`` and everything it causes (``Dispatcher.route``) at ``now``."""
        self.now = now
        self.dispatch.route(src, out, now)

    def _due(self) -> int:
        t = self.dispatch.next_due()
        q = self._venue_q[0][0] if self._venue_q else 1 << 62
        return min(q, 1 << 62 if t is None else t)

    def _step(self) -> None:
        t = self.dispatch.next_due()
        if t is not None and (not self._venue_q or t <= self._venue_q[0][0]):
            self.now = t
            self.dispatch.fire_due(t)
            return
        ts, _seq, kind, venue, msg = heapq.heappop(self._venue_q)
        v = self.venues[venue]
        if kind == "arrive":
            back = ts + v.rtt_ns - v.rtt_ns // 2
            for ans in v.arrive(msg, ts):
                heapq.heappush(self._venue_q, (back, self._next_seq(), "deliver", venue, ans))
        else:
            self.route("@oe", [(f"leg.{venue}", msg)], ts)

    def run(self, rec: Recorded) -> None:
        """Start the cores at the first recorded time, feed every input, run the tail."""
        t0 = self.now = rec.first_ts
        for name in self.order:
            self.dispatch.start(name, self.cores[name], t0)
        for ts, _seq, src, dest, msg in rec.inputs:
            while self._due() <= ts:
                self._step()
            self.route(src, [(dest, msg)], ts)
        end = rec.last_ts + TAIL_NS
        while self._due() <= end:
            self._step()
        self.now = end
        for name in self.order:
            self.dispatch.stop(name, self.cores[name], end)

    def truth(self, windows: list[dict[str, Any]]) -> dict[str, Any]:
        """Return a simulator-truth-like record of the simulated venue (for build_summary)."""
        orders = sorted(
            (o for v in self.venues.values() for o in v.truth_orders), key=lambda o: o["ts"]
        )
        fills = sorted(
            (f for v in self.venues.values() for f in v.truth_fills), key=lambda f: f["ts"]
        )
        dup = sum(v.duplicates for v in self.venues.values())
        return {
            "orders": orders,
            "fills": fills,
            "windows": windows,
            "counts": {"orders": len(orders), "fills": len(fills), "duplicate_client_ids": dup},
        }

    def slippage(self, fills: list[dict[str, Any]]) -> float:
        """Average slippage (ticks) of first-attempt fills against the decisions' prices."""
        epoch = self.cfg.run.epoch
        expected = {
            f"{epoch}.{i.combo_id}.{k}.0": leg.expected_px_ticks
            for i in self.intents
            for k, leg in enumerate(i.legs)
        }
        num = qty = 0.0
        for f in fills:
            exp = expected.get(f["cl"])
            if exp is not None:
                num += (1 if f["side"] == "B" else -1) * (f["px"] - exp) * f["qty"]
                qty += f["qty"]
        return round(num / qty, 4) if qty else 0.0


def run_whatif(
    journal: str | Path,
    cfg: AppConfig,
    changed: dict[str, Any],
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Replay ``journal`` with ``cfg``; return the demo summary plus a ``what_if`` section."""
    rec = read_recorded(journal, progress)
    fallback = {v.name: 2 * v.latency_us * 1000 for v in cfg.sim.venues}
    rtt = estimate_rtt(rec.sends, rec.acks, [v.name for v in cfg.venues if v.trading], fallback)
    sim = WhatIf(cfg, rtt)
    sim.run(rec)
    # the opportunities are the recorded run's: the simulator's windows in its truth.json (a
    # demo's run directory); a run without one (a launch) has none to count
    truth_path = base_path(journal).parent / "truth.json"
    recorded_truth = truth_path.exists()
    windows = json.loads(truth_path.read_bytes()).get("windows", []) if recorded_truth else []
    truth = sim.truth(windows)
    snaps = {name: core.snapshot() for name, core in sim.cores.items()}
    elapsed = (rec.last_ts - rec.first_ts) / 1e9
    summary = build_summary(cfg, elapsed, snaps, truth, {}, "")
    summary["avg_slippage_ticks"] = sim.slippage(truth["fills"])
    summary["journal"] = str(journal)
    summary["actor_errors"] = sim.errors
    got = [(i.combo_id, i.action, i.direction, round(i.z, 9)) for i in sim.intents]
    first_diff = next(
        (k for k, (a, b) in enumerate(zip(rec.intents, got, strict=False)) if a != b), None
    )
    if first_diff is None and len(got) != len(rec.intents):
        first_diff = min(len(got), len(rec.intents))
    if not recorded_truth:  # nothing to count them from: unknown, not 0
        for k in ("opportunities", "opportunity_windows_raw", "opportunities_traded",
                  "capture_rate", "opportunities_eligible", "capture_rate_eligible"):
            summary[k] = None
        summary["targets"].pop("capture", None)
    summary["what_if"] = {
        "run": str(base_path(journal).parent),
        "opportunities_from": str(truth_path) if recorded_truth else "",
        "set": changed,
        "fill_model": "book",
        "rtt_us": {v: round(ns / 1e3, 1) for v, ns in rtt.items()},
        "md_inputs": sum(1 for x in rec.inputs if x[2] == "@md"),
        "intents": len(got),
        "recorded_intents": len(rec.intents),
        "decisions_changed": first_diff is not None,
        "first_changed_decision": first_diff,
        "intent_list": [{"combo_id": c, "action": a, "direction": d, "z": z} for c, a, d, z in got],
    }
    return summary


__all__ = ["Recorded", "WhatIf", "read_recorded", "run_whatif"]

"""The simulator's ground truth: what the venues received and did, and the opportunities it made.

Pure logic. ``SimTruth`` records every order received and every fill given to an engine account,
counts, positions, and per configured pair the opportunity windows measured on the simulator's own
books: at every observation (each book refresh or order), for the minimum clip (la, lb), the edge
after fees of both directions

    dir -1 (spread too high: sell A, buy B):
        vwap_bid_A(la) - parity(vwap_ask_B(lb)) - basis - fee_per_g
    dir +1 (spread too low: buy A, sell B):
        basis + parity(vwap_bid_B(lb)) - vwap_ask_A(la) - fee_per_g

with parity(p) = p * fx_mid * unit_factor and fee_per_g = (la*fee_a + lb*fee_b*fx_mid) /
(la*base_a). A window is a maximal span of observations where one direction's edge is >=
``threshold_cny_g``; it starts at the first such observation, ends at the first one that is not,
and is kept if it lasted >= ``min_window_ms``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from transports.config.engine import AppConfig, ContractConfig, PairConfig
from transports.config.sim import SimConfig
from transports.venues.sim.matching import Book

COUNT_KEYS = (
    "orders",  # NewOrders received (valid or not)
    "fills",  # fill reports given to engine accounts
    "duplicate_client_ids",  # NewOrders whose cl the account had already used
    "rejects",
    "cancels",  # cancels applied
    "cancel_rejects",
    "malformed",  # undecodable or mistyped frames, any socket
    "md_deltas",  # deltas produced (sent or dropped)
    "internal_errors",  # requests that raised inside the simulator (a bug; logged)
)


def min_clip(base_a: float, base_b: float, max_a: int, max_b: int) -> tuple[int, int]:
    """The integer lots (la, lb) minimising |la*base_a - lb*base_b| (ties: the smaller clip)."""
    best = (math.inf, 0, 0)
    for la in range(1, max_a + 1):
        for lb in range(1, max_b + 1):
            key = (abs(la * base_a - lb * base_b), la, lb)
            if key < best:
                best = key
    return best[1], best[2]


class DirWindows:
    """The window record every two-direction truth shares (the gold pair, basis, stat): fed at
    each observation the edges of direction -1 and +1, it opens a window at the first
    observation where one is at least ``thr``, extends it while that direction holds (keeping
    the peak), closes it at the first one where it does not, and keeps it when it lasted at
    least ``min_ns``. ``extra(dir)`` adds keys to a kept window (``want``, ``held``)."""

    def __init__(self, pair: str, thr: float, min_ns: int,
                 extra: Callable[[int], dict[str, Any]] | None = None) -> None:
        self.pair, self.thr, self.min_ns, self.extra = pair, thr, min_ns, extra
        self.windows: list[dict[str, Any]] = []
        self._dir, self._start, self._peak, self._last = 0, 0, 0.0, 0

    def observe(self, ts: int, edges: tuple[float, float] | None, plus: bool = True) -> None:
        """Take the edges (dir -1, dir +1) at ``ts`` (None: no market); ``plus`` False ignores
        direction +1 (a kind that trades one way only)."""
        new, edge = 0, -math.inf
        if edges is not None:
            if edges[0] >= self.thr:
                new, edge = -1, edges[0]
            elif plus and edges[1] >= self.thr:
                new, edge = 1, edges[1]
        if self._dir and new != self._dir:
            self._close(ts)
        if new and new != self._dir:
            self._dir, self._start, self._peak = new, ts, edge
        elif new:
            self._peak = max(self._peak, edge)
        self._last = ts

    def _close(self, ts: int) -> None:
        if ts - self._start >= self.min_ns:
            w = {"pair": self.pair, "start_ns": self._start, "end_ns": ts, "dir": self._dir,
                 "peak_edge": round(float(self._peak), 6)}
            if self.extra is not None:
                w.update(self.extra(self._dir))
            self.windows.append(w)
        self._dir = 0

    def finish(self, ts: int) -> None:
        """Close an open window at ``ts`` (end of the run)."""
        if self._dir:
            self._close(max(ts, self._last))


class PairTruth:
    """Opportunity windows of one pair."""

    def __init__(
        self,
        pair: PairConfig,
        ca: ContractConfig,
        cb: ContractConfig,
        cfx: ContractConfig | None,
        sim: SimConfig,
    ) -> None:
        self.name = pair.name
        self.a_key, self.b_key, self.fx_key = pair.leg_a, pair.leg_b, pair.fx
        self.la, self.lb = min_clip(
            ca.base_per_lot, cb.base_per_lot, pair.max_clip_lots_a, pair.max_clip_lots_b
        )
        self.tick_a, self.tick_b = float(Decimal(ca.tick)), float(Decimal(cb.tick))
        self.tick_fx = float(Decimal(cfx.tick)) if cfx else 1.0
        self.fee_a, self.fee_b = ca.fee_per_lot, cb.fee_per_lot
        self.base_a = ca.base_per_lot if ca.base_per_lot > 0 else ca.multiplier
        self.uf, self.invert = pair.unit_factor, pair.fx_invert
        self.basis, self.thr = sim.basis_cny_g, sim.threshold_cny_g
        self.record = DirWindows(self.name, self.thr, sim.min_window_ms * 1_000_000)

    def edges(self, books: Mapping[str, Book]) -> tuple[float, float] | None:
        """(edge dir -1, edge dir +1) in A's price units; None when a book is missing or empty."""
        ba, bb = books.get(self.a_key), books.get(self.b_key)
        if ba is None or bb is None:
            return None
        fx = 1.0
        if self.fx_key:
            bfx = books.get(self.fx_key)
            m = bfx.mid() if bfx is not None else None
            if m is None:
                return None
            fx = m * self.tick_fx
            if self.invert:
                fx = 1.0 / fx
        par = fx * self.uf
        fee = (self.la * self.fee_a + self.lb * self.fee_b * fx) / (self.la * self.base_a)
        bid_a, ask_a = ba.vwap("B", self.la), ba.vwap("S", self.la)
        bid_b, ask_b = bb.vwap("B", self.lb), bb.vwap("S", self.lb)
        e_minus = e_plus = -math.inf
        if bid_a is not None and ask_b is not None:
            e_minus = bid_a * self.tick_a - ask_b * self.tick_b * par - self.basis - fee
        if ask_a is not None and bid_b is not None:
            e_plus = self.basis + bid_b * self.tick_b * par - ask_a * self.tick_a - fee
        return e_minus, e_plus

    def observe(self, ts: int, books: Mapping[str, Book]) -> None:
        """Evaluate the edges now and open, extend or close a window."""
        self.record.observe(ts, self.edges(books))

    @property
    def windows(self) -> list[dict[str, Any]]:
        """The windows kept so far."""
        return self.record.windows

    def finish(self, ts: int) -> None:
        """Close an open window at ``ts`` (end of the run)."""
        self.record.finish(ts)


class SimTruth:
    """The ground-truth record of one simulator run (all venues)."""

    def __init__(self, cfg: AppConfig, fault_counts: Mapping[str, int] | None = None,
                 models: Mapping[str, Any] | None = None) -> None:
        self.orders: list[dict[str, Any]] = []
        self.fills: list[dict[str, Any]] = []
        #: every reconciliation request an account made (open_orders, trades, positions)
        self.requests: list[dict[str, Any]] = []
        #: every funding payment settled on an account (perpetuals, ``record_funding``)
        self.funding: list[dict[str, Any]] = []
        self.counts: dict[str, int] = dict.fromkeys(COUNT_KEYS, 0)
        self.positions: dict[str, dict[str, int]] = {}
        self.episodes: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = {"seed": cfg.sim.seed, "start_ns": 0, "end_ns": 0}
        self._fault_counts = fault_counts if fault_counts is not None else {}
        self.fault_events: list[dict[str, Any]] = []  # every fault hit: ts, venue, kind, details
        self.fault_by_venue: dict[str, Mapping[str, int]] = {}  # venue -> fault_<kind> -> n
        contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
        # parity pairs: the gold truth below; every other kind: its scenario model's truth
        if models is None:
            from transports.venues.sim.scenarios import model_for

            models = {p.name: m for p in cfg.pairs if (m := model_for(p, cfg)) is not None}
        self.pairs: list[Any] = [
            PairTruth(p, contracts[p.leg_a], contracts[p.leg_b], contracts.get(p.fx), cfg.sim)
            if p.kind == "parity" else models[p.name].truth()
            for p in cfg.pairs
        ]
        self.meta["clips"] = {p.name: [p.la, p.lb] for p in self.pairs if hasattr(p, "la")}
        self.meta["threshold_cny_g"] = cfg.sim.threshold_cny_g

    def count(self, key: str, n: int = 1) -> None:
        """Add ``n`` to counter ``key``."""
        self.counts[key] = self.counts.get(key, 0) + n

    def record_order(self, **rec: Any) -> None:
        """Record a NewOrder received: ts, venue, account, cl, sym, side, px, qty, tif; and
        ``fault`` (``oe_swallow_order`` or ``oe_disconnect``) when it never reached the book."""
        self.orders.append(rec)
        self.counts["orders"] += 1

    def record_request(self, **rec: Any) -> None:
        """Record a reconciliation request received: ts, venue, account, t."""
        self.requests.append(rec)

    def record_funding(self, **rec: Any) -> None:
        """Record a funding payment sent to an account: ts (the funding time), venue, account,
        sym, rate (decimal string, per interval), paid (in ccy; negative = paid out), ccy."""
        self.funding.append(rec)

    def record_fill(self, **rec: Any) -> None:
        """Record a fill: ts, venue, account, cl, oid, tid, sym, side, px, qty, fee, liq."""
        self.fills.append(rec)
        self.counts["fills"] += 1
        pos = self.positions.setdefault(rec["account"], {})
        signed = rec["qty"] if rec["side"] == "B" else -rec["qty"]
        pos[rec["sym"]] = pos.get(rec["sym"], 0) + signed

    def observe(self, ts: int, books: Mapping[str, Book]) -> None:
        """Evaluate every pair's edges on the current books (keys ``venue:sym``)."""
        for p in self.pairs:
            p.observe(ts, books)

    def finish(self, ts: int) -> None:
        """Close open windows; the run ended at ``ts``."""
        for p in self.pairs:
            p.finish(ts)
        self.meta["end_ns"] = ts

    @property
    def windows(self) -> list[dict[str, Any]]:
        """Closed windows of every pair, by start time."""
        return sorted((w for p in self.pairs for w in p.windows), key=lambda w: w["start_ns"])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy of the record."""
        counts = dict(self.counts)
        counts.update(self._fault_counts)
        return {
            "orders": [dict(o) for o in self.orders],
            "fills": [dict(f) for f in self.fills],
            "requests": [dict(r) for r in self.requests],
            "funding": [dict(f) for f in self.funding],
            "counts": counts,
            "positions": {a: dict(p) for a, p in self.positions.items()},
            "windows": self.windows,
            "episodes": [dict(e) for e in self.episodes],
            "meta": dict(self.meta),
            "faults": {
                "by_venue": {v: dict(c) for v, c in self.fault_by_venue.items()},
                "events": [dict(e) for e in self.fault_events],
            },
        }

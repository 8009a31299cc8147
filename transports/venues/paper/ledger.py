"""The paper venue's accounts: fills, fees, positions, balances and the ground-truth record.

Pure logic. Fees are basis points of the fill's notional (``px x tick x lot x qty``), taker or
maker by the fill's liquidity, in the instrument's currency. A spot instrument (``kind`` "spot"
with a ``base`` asset) settles in cash: the quote currency pays the notional and the base asset
is received (the venue refuses an order the account cannot pay or deliver). Anything else
(futures, perpetuals, the simulator's contracts) is margined: the position has an average price,
closing it realises profit or loss in the instrument's currency, and the open position holds
``margin_rate`` of its notional as margin.

``PaperTruth`` keeps the same record as the simulator's ``SimTruth.to_dict`` (orders, fills,
requests, counts, positions, windows, episodes, meta, faults), so the demo's summary and the
invariant checks judge a paper venue exactly as they judge a simulated one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from transports.venues.sim.truth import COUNT_KEYS
from transports.wire.venue_msgs import BalanceRecord, FillRecord, PositionRecord

DEFAULT_BALANCE = 1_000_000.0  #: per quote currency, when the config names no balance
DEFAULT_BASE_BALANCE = 10.0  #: per spot base asset (as the fakes' accounts), likewise


@dataclass(frozen=True, slots=True)
class Spec:
    """One instrument as the paper venue trades it (from the source's ``instruments``)."""

    sym: str
    tick: Decimal
    lot: Decimal
    ccy: str
    min_qty: int = 1
    max_qty: int = 1_000_000
    kind: str = ""
    base: str = ""
    margin_rate: float = 0.0

    @property
    def value_per_tick_lot(self) -> float:
        """Notional, in ``ccy``, of one lot at a price of one tick."""
        return float(self.tick * self.lot)

    @property
    def cash_settled(self) -> bool:
        """True for spot: notional changes hands, no margin."""
        return self.kind == "spot" and bool(self.base)


class PaperTruth:
    """What the paper venue received and did, keyed like the simulator's truth."""

    def __init__(self, venue: str, meta: dict[str, Any] | None = None) -> None:
        self.venue = venue
        self.orders: list[dict[str, Any]] = []
        self.fills: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.counts: dict[str, int] = dict.fromkeys(COUNT_KEYS, 0)
        self.positions: dict[str, dict[str, int]] = {}
        self.meta: dict[str, Any] = {"gateway": "paper", "venue": venue, "start_ns": 0,
                                     "end_ns": 0, **(meta or {})}

    def count(self, key: str, n: int = 1) -> None:
        """Add ``n`` to counter ``key``."""
        self.counts[key] = self.counts.get(key, 0) + n

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy with the simulator's keys (no windows or episodes: the paper venue
        does not make the market)."""
        return {
            "orders": [dict(o) for o in self.orders],
            "fills": [dict(f) for f in self.fills],
            "requests": [dict(r) for r in self.requests],
            "funding": [],  # the paper venue settles no funding
            "counts": dict(self.counts),
            "positions": {a: dict(p) for a, p in self.positions.items()},
            "windows": [],
            "episodes": [],
            "meta": dict(self.meta),
            "faults": {"by_venue": {}, "events": []},
        }


@dataclass(slots=True)
class _Position:
    qty: int = 0  #: signed lots
    avg_px: float = 0.0  #: ticks


class Ledger:
    """Every account's trades, positions and balances at the paper venue."""

    def __init__(self, venue: str, specs: dict[str, Spec], *, taker_bps: float,
                 maker_bps: float, balances: dict[str, float], truth: PaperTruth) -> None:
        self.venue = venue
        self.specs = specs
        self.taker_bps, self.maker_bps = taker_bps, maker_bps
        start = dict(balances) or {
            **{s.base: DEFAULT_BASE_BALANCE for s in specs.values() if s.cash_settled},
            **{s.ccy: DEFAULT_BALANCE for s in specs.values()}}
        for s in specs.values():
            start.setdefault(s.ccy, 0.0)
            if s.cash_settled:
                start.setdefault(s.base, 0.0)
        self.start = start
        self.truth = truth
        self.trades: dict[str, list[FillRecord]] = {}
        self.pos: dict[str, dict[str, _Position]] = {}
        self.cash: dict[str, dict[str, float]] = {}  #: account -> ccy -> change since start

    def fee(self, sym: str, px: int, qty: int, liq: str) -> float:
        """The fee of a fill: bps of its notional, taker or maker."""
        bps = self.taker_bps if liq == "T" else self.maker_bps
        return round(px * qty * self.specs[sym].value_per_tick_lot * bps / 1e4, 10)

    def fill(self, *, now: int, account: str, cl: str, oid: str, sym: str, side: str, px: int,
             qty: int, liq: str, tid: str) -> FillRecord:
        """Book one execution; return its record (also kept in the truth)."""
        fee = self.fee(sym, px, qty, liq)
        rec = FillRecord(cl, oid, tid, px, qty, now, liq, fee, sym, side)
        self.trades.setdefault(account, []).append(rec)
        self._book(account, self.specs[sym], side, px, qty, fee)
        self.truth.fills.append({"ts": now, "venue": self.venue, "account": account, "cl": cl,
                                 "oid": oid, "tid": tid, "sym": sym, "side": side, "px": px,
                                 "qty": qty, "fee": fee, "liq": liq})
        self.truth.count("fills")
        net = self.truth.positions.setdefault(account, {})
        net[sym] = net.get(sym, 0) + (qty if side == "B" else -qty)
        return rec

    def _book(self, account: str, s: Spec, side: str, px: int, qty: int, fee: float) -> None:
        cash = self.cash.setdefault(account, {})
        signed = qty if side == "B" else -qty
        cash[s.ccy] = cash.get(s.ccy, 0.0) - fee
        p = self.pos.setdefault(account, {}).setdefault(s.sym, _Position())
        if s.cash_settled:
            cash[s.ccy] -= signed * px * s.value_per_tick_lot
            cash[s.base] = cash.get(s.base, 0.0) + float(signed * s.lot)
        elif p.qty and (p.qty > 0) != (signed > 0):  # reduces (and may flip) the position
            closed = min(abs(p.qty), qty)
            per_lot = (px - p.avg_px) if p.qty > 0 else (p.avg_px - px)
            cash[s.ccy] += closed * per_lot * s.value_per_tick_lot
        if p.qty == 0 or (p.qty > 0) == (signed > 0):
            p.avg_px = (p.avg_px * abs(p.qty) + px * qty) / (abs(p.qty) + qty)
        elif abs(signed) > abs(p.qty):  # flipped: the rest opens at this price
            p.avg_px = float(px)
        p.qty += signed
        if p.qty == 0:
            p.avg_px = 0.0

    # --- replies --------------------------------------------------------------------------------

    def positions(self, account: str) -> list[PositionRecord]:
        """Net signed position of every symbol the account traded (0 included)."""
        return [PositionRecord(sym=sym, qty=p.qty, avg_px=round(p.avg_px, 6))
                for sym, p in self.pos.get(account, {}).items()]

    def fills_since(self, account: str, since: int) -> list[FillRecord]:
        """The account's fills with ``ts >= since``."""
        return [f for f in self.trades.get(account, []) if f.ts >= since]

    def total(self, account: str, ccy: str) -> float:
        """The account's balance of ``ccy``: the starting one plus every cash flow since."""
        return self.start.get(ccy, 0.0) + self.cash.get(account, {}).get(ccy, 0.0)

    def balances(self, account: str) -> list[BalanceRecord]:
        """Starting balance plus cash flows per currency; margin of open margined positions."""
        cash = self.cash.get(account, {})
        margin: dict[str, float] = {}
        for sym, p in self.pos.get(account, {}).items():
            s = self.specs[sym]
            if p.qty and not s.cash_settled:
                used = abs(p.qty) * p.avg_px * s.value_per_tick_lot * s.margin_rate
                margin[s.ccy] = margin.get(s.ccy, 0.0) + used
        out = []
        for ccy in sorted(self.start.keys() | cash.keys()):
            total = round(self.start.get(ccy, 0.0) + cash.get(ccy, 0.0), 10)
            m = round(margin.get(ccy, 0.0), 10)
            out.append(BalanceRecord(ccy=ccy, total=total, available=round(total - m, 10),
                                     margin_used=m))
        return out


__all__ = ["DEFAULT_BALANCE", "DEFAULT_BASE_BALANCE", "Ledger", "PaperTruth", "Spec"]

"""Futures offsets (CTP: SHFE, INE, DCE, CZCE, GFEX): every order says whether it opens or closes,
and on SHFE/INE whether it closes today's or yesterday's lots. The LegExecutor decides it here.

A contract trades with offsets when its ``ContractConfig`` says ``offsets = true``
(``close_today = true`` for SHFE/INE). For each such symbol the executor owns two-sided
positions, ``Sides``: long and short, each split into today's and yesterday's lots, known from
its fills (each fill applied with its order's offset) and from every reconciliation's positions
reply (``PositionRecord`` ``long``/``short``/``long_today``/``short_today``: the venue's buckets
are adopted as they are). Today's lots become yesterday's at the trading-day boundary
(``trading_day``: daily at ``trading_day_roll_utc``, or every ``trading_day_roll_s`` seconds).

``decide`` (pure) picks an order's offset: a sell closes long lots, a buy closes short lots, and
what the working orders of the same side will already close is reserved (their leaves counted
against the bucket their offset closes). The rules:

- nothing of the opposite side is free to close: ``open``;
- a venue without ``close_today``: ``close`` if the free lots cover the order;
- ``close_today`` venues: ``close_yesterday`` if yesterday's free lots cover it, else
  ``close_today`` if today's do -- unless the contract's ``close_today_policy`` is
  ``open_opposite`` (desks avoiding SHFE's close-today fee), which never closes today's lots:
  with no yesterday's lots free the order opens the other side instead;
- an order larger than any one bucket it would close is not split (one order, one client id):
  it closes what its best bucket holds and the rest is denied pre-trade, reason
  ``close_exceeds_position`` (the decision's ``qty`` is the part that goes).

So a decided close never closes more than a bucket holds net of the working closes (the property
the tests check). Venues without offsets never reach this module: their orders carry no offset.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from transports.config.engine import ContractConfig

OPEN, CLOSE, CLOSE_TODAY, CLOSE_YESTERDAY = "open", "close", "close_today", "close_yesterday"
OFFSETS = (OPEN, CLOSE, CLOSE_TODAY, CLOSE_YESTERDAY)
EXCEEDS = "close_exceeds_position"  #: the denial reason of the part of an order not sent
_DAY_NS = 86_400 * 1_000_000_000
_S = 1_000_000_000


def roll_offset_ns(roll_utc: str) -> int:
    """``"HH:MM"`` (UTC) as ns after midnight."""
    h, _, m = roll_utc.partition(":")
    return (int(h) * 3600 + int(m) * 60) * _S


def trading_day(now_ns: int, roll_s: int, roll_utc: str) -> int:
    """The index of the trading day ``now_ns`` (epoch ns) falls in: it changes every
    ``roll_s`` seconds of the epoch when ``roll_s`` > 0, else daily at ``roll_utc``."""
    if roll_s > 0:
        return now_ns // (roll_s * _S)
    return (now_ns - roll_offset_ns(roll_utc)) // _DAY_NS


@dataclass(slots=True)
class Sides:
    """Two-sided positions of one symbol, in lots (all >= 0)."""

    long_today: int = 0
    long_yd: int = 0
    short_today: int = 0
    short_yd: int = 0

    @property
    def net(self) -> int:
        """Long minus short."""
        return self.long_today + self.long_yd - self.short_today - self.short_yd

    def roll(self) -> None:
        """A new trading day: today's lots are yesterday's."""
        self.long_yd += self.long_today
        self.short_yd += self.short_today
        self.long_today = self.short_today = 0

    def apply(self, side: str, offset: str, qty: int) -> None:
        """Apply a fill of ``qty`` lots on ``side`` with ``offset``. A close takes its bucket
        first, then the other bucket of that side, and what is left opens (so ``net`` always
        moves by the signed fill, as the executor's net position does); an unknown offset
        ("": an order whose offset this executor did not decide) closes yesterday's first."""
        if offset == OPEN:
            self._open(side, qty)
            return
        long_side = side == "S"  # a sell closes long lots
        today_first = offset == CLOSE_TODAY  # "close" is yesterday's first everywhere
        td = self.long_today if long_side else self.short_today
        yd = self.long_yd if long_side else self.short_yd
        if today_first:
            a = min(td, qty)
            b = min(yd, qty - a)
            td, yd = td - a, yd - b
        else:
            b = min(yd, qty)
            a = min(td, qty - b)
            td, yd = td - a, yd - b
        if long_side:
            self.long_today, self.long_yd = td, yd
        else:
            self.short_today, self.short_yd = td, yd
        rest = qty - a - b
        if rest:
            self._open(side, rest)

    def _open(self, side: str, qty: int) -> None:
        if side == "B":
            self.long_today += qty
        else:
            self.short_today += qty

    def as_dict(self) -> dict[str, int]:
        """The buckets as the protocol names them (``long``/``short`` include today's)."""
        return {"long": self.long_today + self.long_yd, "short": self.short_today + self.short_yd,
                "long_today": self.long_today, "short_today": self.short_today}


class Decision(NamedTuple):
    """An order's offset and the lots that go with it; ``reason`` names why the rest
    (``qty`` below the order's) is denied."""

    offset: str
    qty: int
    reason: str = ""


def decide(side: str, qty: int, sides: Sides, reserved: Mapping[str, int], close_today: bool,
           policy: str = "close") -> Decision:
    """The offset of an order of ``qty`` lots on ``side`` (see the module). ``reserved``:
    offset -> leaves of the working orders on the same side (the lots they will close)."""
    if side == "S":
        td, yd = sides.long_today, sides.long_yd
    else:
        td, yd = sides.short_today, sides.short_yd
    if not close_today:
        free = yd + td - sum(reserved.get(k, 0) for k in (CLOSE, CLOSE_TODAY, CLOSE_YESTERDAY))
        if free <= 0:
            return Decision(OPEN, qty)
        return Decision(CLOSE, qty) if qty <= free else Decision(CLOSE, free, EXCEEDS)
    # SHFE/INE: "close" closes yesterday's lots there, as close_yesterday does
    free_yd = max(0, yd - reserved.get(CLOSE_YESTERDAY, 0) - reserved.get(CLOSE, 0))
    free_td = max(0, td - reserved.get(CLOSE_TODAY, 0))
    if policy == "open_opposite":
        free_td = 0  # today's lots are never closed: the other side opens instead
    if free_yd == 0 and free_td == 0:
        return Decision(OPEN, qty)
    if qty <= free_yd:
        return Decision(CLOSE_YESTERDAY, qty)
    if qty <= free_td:
        return Decision(CLOSE_TODAY, qty)
    if free_yd >= free_td:
        return Decision(CLOSE_YESTERDAY, free_yd, EXCEEDS)
    return Decision(CLOSE_TODAY, free_td, EXCEEDS)


class Offsets:
    """The executor's offsets state: per offset symbol its ``Sides`` and trading day, and the
    offset of every order it sent (``of``: the working ones reserve their lots)."""

    def __init__(self, contracts: Mapping[str, ContractConfig]) -> None:
        #: sym -> its contract, for the symbols that trade with offsets only
        self.rules = {s: c for s, c in contracts.items() if c.offsets}
        self.sides: dict[str, Sides] = {s: Sides() for s in self.rules}
        self.day: dict[str, int] = {}  #: sym -> the trading day its buckets are of
        self.of: dict[str, str] = {}  #: cl -> the offset it was sent with
        self.sent: dict[str, int] = dict.fromkeys(OFFSETS, 0)  #: offset -> orders sent
        self.trimmed_lots = 0  #: lots denied ``close_exceeds_position``

    def roll(self, sym: str, now_ns: int) -> None:
        """Roll ``sym``'s buckets if ``now_ns`` is in a later trading day."""
        c = self.rules[sym]
        d = trading_day(now_ns, c.trading_day_roll_s, c.trading_day_roll_utc)
        last = self.day.get(sym)
        if last is not None and d > last:
            self.sides[sym].roll()
        if last is None or d > last:
            self.day[sym] = d

    def decide(self, sym: str, side: str, qty: int, open_orders: Iterable[Any],
               now_ns: int) -> Decision:
        """The offset of a new order (``open_orders``: the executor's working orders, with
        ``cl``, ``sym``, ``side`` and ``leaves_lots``)."""
        self.roll(sym, now_ns)
        reserved: dict[str, int] = {}
        of = self.of
        for x in open_orders:
            if x.sym == sym and x.side == side:
                k = of.get(x.cl, "")
                if k and k != OPEN:
                    reserved[k] = reserved.get(k, 0) + x.leaves_lots
        c = self.rules[sym]
        return decide(side, qty, self.sides[sym], reserved, c.close_today, c.close_today_policy)

    def on_sent(self, cl: str, offset: str) -> None:
        """Record the offset ``cl`` went with."""
        self.of[cl] = offset
        self.sent[offset] += 1

    def on_fill(self, cl: str, sym: str, side: str, qty: int, now_ns: int) -> None:
        """Apply a fill of an order of this executor (symbols without offsets: nothing)."""
        if sym not in self.rules:
            return
        self.roll(sym, now_ns)
        self.sides[sym].apply(side, self.of.get(cl, ""), qty)

    def adopt(self, records: Iterable[Any], now_ns: int) -> None:
        """Take the venue's buckets from a positions reply (``PositionRecord``\\ s; a symbol
        absent is flat; a net-only record counts as yesterday's lots)."""
        got = {r.sym: r for r in records if r.sym in self.rules}
        for sym in self.rules:
            r = got.get(sym)
            s = Sides()
            if r is not None and (r.long or r.short):
                s = Sides(r.long_today, r.long - r.long_today, r.short_today,
                          r.short - r.short_today)
            elif r is not None and r.qty:
                s = Sides(long_yd=max(r.qty, 0), short_yd=max(-r.qty, 0))
            self.sides[sym] = s
            c = self.rules[sym]
            self.day[sym] = trading_day(now_ns, c.trading_day_roll_s, c.trading_day_roll_utc)

    def snapshot(self) -> dict[str, Any]:
        """Each symbol's two sides (today's part too), the orders sent per offset and the lots
        denied for closing more than was held."""
        return {"positions": {s: v.as_dict() for s, v in self.sides.items()},
                "sent": dict(self.sent), "trimmed_lots": self.trimmed_lots}


__all__ = ["CLOSE", "CLOSE_TODAY", "CLOSE_YESTERDAY", "EXCEEDS", "OFFSETS", "OPEN", "Decision",
           "Offsets", "Sides", "decide", "roll_offset_ns", "trading_day"]

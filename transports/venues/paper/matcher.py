"""The paper fill model: orders filled against another venue's book that never sees them.

Pure logic: no sockets, no clock (callers pass ``now``). The book is the source's
(``book.SourceBook``); the model adds what the source cannot know about us:

- **Consumed overlay.** Lots our orders took from a source level are marked consumed at that
  level, so the next order (ours or another account's) cannot take them again; the available
  quantity is ``source qty - consumed``. The source never saw our trade, so when it publishes the
  level again its fresh quantity is the level's new truth and the overlay of that level is
  dropped ("decays").
- **Taking.** An order that crosses takes the available quantity of the crossing levels, best
  first, each at its level's price (liquidity "T"); never more than is visible. A FOK takes
  nothing unless everything is available.
- **Queue position.** A resting order joins its level behind ``queue_ahead x`` the source's
  quantity there. When the source shows that level smaller, the queue ahead shrinks by the
  decrease (trades or cancels, the source does not say which); what leaves the level beyond the
  queue ahead fills the order, but only while the order's price is at the touch (no better
  source level on its side): a level shrinking deeper in the book is cancels, not trades.
- **Trade-through.** A resting order fills at its own price (liquidity "M") as soon as the
  opposite side's available quantity crosses it (the market traded through its price), by at
  most that quantity.

Paper orders never trade with each other (each trades against the source only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from transports.venues.paper.book import LevelChange, SourceBook
from transports.wire.venue_msgs import FillRecord

OPEN_STATES = ("new", "partial")


def other(side: str) -> str:
    """The opposite side ("B" <-> "S")."""
    return "S" if side == "B" else "B"


def crosses(side: str, limit: int, px: int) -> bool:
    """True when an order of ``side`` limited at ``limit`` can trade at ``px``."""
    return px <= limit if side == "B" else px >= limit


@dataclass(eq=False, slots=True)
class PaperOrder:
    """One order of an account at the paper venue."""

    oid: str
    account: str
    cl: str
    sym: str
    side: str  #: "B" or "S"
    px: int
    qty: int
    tif: str  #: "IOC", "FOK" or "GTC"
    ts: int
    cum: int = 0
    state: str = "new"  #: new, partial, filled, canceled, rejected
    fills: list[FillRecord] = field(default_factory=list)
    queue_ahead: int = 0  #: source lots ahead of a resting order at its level

    @property
    def leaves(self) -> int:
        """Lots still working (0 once closed)."""
        return self.qty - self.cum if self.state in OPEN_STATES else 0

    @property
    def is_open(self) -> bool:
        """True while the order can still trade."""
        return self.state in OPEN_STATES


@dataclass(frozen=True, slots=True)
class Execution:
    """``order`` traded ``qty`` lots at ``px``; ``liq`` "T" (took) or "M" (rested)."""

    order: PaperOrder
    px: int
    qty: int
    liq: str


class FillModel:
    """Consumed overlay, resting orders and their queues, over the source's books."""

    def __init__(self, books: Mapping[str, SourceBook], queue_ahead: float) -> None:
        self.books = books
        self.queue_frac = queue_ahead
        self.consumed: dict[str, dict[str, dict[int, int]]] = {
            s: {"B": {}, "S": {}} for s in books}
        self.resting: dict[str, list[PaperOrder]] = {s: [] for s in books}
        #: levels whose available quantity changed since the publisher last looked
        self.dirty: dict[str, set[tuple[str, int]]] = {s: set() for s in books}

    # --- views ----------------------------------------------------------------------------------

    def available(self, sym: str, side: str, px: int) -> int:
        """Lots of the source's level still there for us: its quantity less what we took."""
        q = self.books[sym].qty(side, px)
        return max(0, q - self.consumed[sym][side].get(px, 0)) if q else 0

    def crossing(self, sym: str, side: str, limit: int) -> list[tuple[int, int]]:
        """(px, available lots) of the opposite levels an order of ``side`` at ``limit`` can
        take, best first (levels with nothing available left out)."""
        opp = other(side)
        out = []
        for px, _ in self.books[sym].sorted_levels(opp):
            if not crosses(side, limit, px):
                break
            a = self.available(sym, opp, px)
            if a > 0:
                out.append((px, a))
        return out

    # --- an arriving order ----------------------------------------------------------------------

    def take(self, o: PaperOrder) -> list[Execution]:
        """Fill ``o`` against the available crossing liquidity (FOK: all or nothing)."""
        levels = self.crossing(o.sym, o.side, o.px)
        if o.tif == "FOK" and sum(a for _, a in levels) < o.leaves:
            return []
        out: list[Execution] = []
        opp = other(o.side)
        for px, a in levels:
            q = min(o.leaves, a)
            if q <= 0:
                break
            self._consume(o.sym, opp, px, q)
            out.append(self._exec(o, px, q, "T"))
        return out

    def rest(self, o: PaperOrder) -> None:
        """Put the open remainder of a GTC on its level, behind its share of the queue."""
        level = self.books[o.sym].qty(o.side, o.px)
        ahead = math.ceil(self.queue_frac * level - 1e-9)
        o.queue_ahead = max(0, min(level, ahead))
        self.resting[o.sym].append(o)

    def remove(self, o: PaperOrder) -> bool:
        """Take a resting order off its level; False if it was not resting."""
        lst = self.resting.get(o.sym, [])
        if o in lst:
            lst.remove(o)
            return True
        return False

    # --- the source moved -----------------------------------------------------------------------

    def on_changes(self, sym: str, changes: list[LevelChange]) -> list[Execution]:
        """The source's book of ``sym`` changed (it is synced): drop the overlay of republished
        levels, move the queues, fill resting orders; the executions made."""
        cons, dirty = self.consumed[sym], self.dirty[sym]
        for ch in changes:
            cons[ch.side].pop(ch.px, None)  # republished: the source's quantity is the truth
            dirty.add((ch.side, ch.px))
        out: list[Execution] = []
        if not self.resting[sym]:
            return out
        for ch in changes:
            if ch.new < ch.old:
                out += self._queue_moved(sym, ch)
        out += self._trade_through(sym)
        return out

    def reset_overlay(self, sym: str) -> None:
        """The source sent the whole book again (a snapshot): every level is republished."""
        for side, lv in self.consumed[sym].items():
            self.dirty[sym].update((side, px) for px in lv)
            lv.clear()

    def _queue_moved(self, sym: str, ch: LevelChange) -> list[Execution]:
        mine = [o for o in self.resting[sym] if o.side == ch.side and o.px == ch.px]
        if not mine:
            return []
        best = self.books[sym].best(ch.side)
        at_touch = best is None or not _better(ch.side, best, ch.px)
        gone, passed = ch.old - ch.new, 0
        out: list[Execution] = []
        for o in mine:  # time order: lots that filled an earlier order did not reach this one
            beyond = max(0, gone - o.queue_ahead - passed)
            o.queue_ahead = max(0, o.queue_ahead - gone)
            if at_touch and beyond > 0 and o.leaves > 0:
                q = min(beyond, o.leaves)
                passed += q
                out.append(self._exec(o, o.px, q, "M"))
        return out

    def _trade_through(self, sym: str) -> list[Execution]:
        out: list[Execution] = []
        # price priority, then time: the best resting order meets crossing liquidity first
        order = sorted(self.resting[sym], key=lambda o: -o.px if o.side == "B" else o.px)
        for o in order:
            if o.leaves <= 0:
                continue
            opp = other(o.side)
            for px, a in self.crossing(sym, o.side, o.px):
                q = min(o.leaves, a)
                if q <= 0:
                    break
                self._consume(sym, opp, px, q)
                out.append(self._exec(o, o.px, q, "M"))
        return out

    # --- internals ------------------------------------------------------------------------------

    def _consume(self, sym: str, side: str, px: int, q: int) -> None:
        lv = self.consumed[sym][side]
        lv[px] = lv.get(px, 0) + q
        self.dirty[sym].add((side, px))

    def _exec(self, o: PaperOrder, px: int, q: int, liq: str) -> Execution:
        o.cum += q
        o.state = "filled" if o.cum >= o.qty else "partial"
        if o.state == "filled":
            self.remove(o)
        return Execution(o, px, q, liq)


def _better(side: str, a: int, b: int) -> bool:
    """True when price ``a`` is strictly better than ``b`` on ``side``."""
    return a > b if side == "B" else a < b


__all__ = ["OPEN_STATES", "Execution", "FillModel", "PaperOrder", "crosses", "other"]

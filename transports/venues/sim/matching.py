"""A price-time priority matching engine for one instrument, on integer ticks and lots.

Pure logic, no sockets and no clock: callers pass ``ts``. Besides the queues the book keeps an
aggregated L2 view (price -> total resting lots per side) and the last *published* L2 view;
``take_delta`` diffs the two and returns the changed levels (absolute qty, 0 = delete) with the
per-symbol ``seq`` + 1, and ``snapshot`` returns the published view with the seq of the last delta
it contains, so applying deltas to a snapshot always reproduces the next snapshot.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from transports.wire.venue_msgs import Delta, FillRecord, Snapshot

MM_ACCOUNT = "__mm__"  #: the simulated market maker's account
OPEN_STATES = ("new", "partial")


@dataclass(slots=True, eq=False)
class Order:
    """One order at the venue (the engine's or the market maker's)."""

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
    state: str = "new"  #: new, partial, filled, canceled, expired, rejected
    fills: list[FillRecord] = field(default_factory=list)
    unknown_until: int = 0  #: fault ``oe_unknown_query``: queries answer ``unknown`` before this
    offset: str = ""  #: open / close / close_today / close_yesterday (offsets mode), else ""

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
    """One match: ``taker`` traded ``qty`` lots with ``maker`` at the maker's price ``px``."""

    taker: Order
    maker: Order
    px: int
    qty: int


def _crosses(side: str, limit: int, px: int) -> bool:
    return px <= limit if side == "B" else px >= limit


class Book:
    """The order book of one instrument."""

    def __init__(self, sym: str) -> None:
        self.sym = sym
        self.seq = 0
        self._queues: dict[str, dict[int, deque[Order]]] = {"B": {}, "S": {}}
        self._lvl: dict[str, dict[int, int]] = {"B": {}, "S": {}}
        self._prices: dict[str, list[int]] = {"B": [], "S": []}  # ascending
        self._pub: dict[str, dict[int, int]] = {"B": {}, "S": {}}
        #: False only while the levels equal the published view (``take_delta`` then has
        #: nothing to diff: an order that neither rests nor trades costs no diff)
        self._dirty = False

    # --- views ----------------------------------------------------------------------------------

    def best(self, side: str) -> int | None:
        """Best price of ``side`` ("B" bids, "S" asks), None when empty."""
        prices = self._prices[side]
        if not prices:
            return None
        return prices[-1] if side == "B" else prices[0]

    def levels(self, side: str) -> list[tuple[int, int]]:
        """Current aggregated levels of ``side``, best first."""
        prices = self._prices[side]
        order = reversed(prices) if side == "B" else prices
        return [(p, self._lvl[side][p]) for p in order]

    def resting(self, side: str) -> list[Order]:
        """Resting orders of ``side`` in priority order."""
        out: list[Order] = []
        order = reversed(self._prices[side]) if side == "B" else self._prices[side]
        for p in order:
            out.extend(self._queues[side][p])
        return out

    def available(self, side: str, limit: int) -> int:
        """Lots an order of ``side`` limited at ``limit`` could take now."""
        opp = "S" if side == "B" else "B"
        lvl = self._lvl[opp]
        total = 0
        # best first: the first level that does not cross ends the walk
        for p in (reversed(self._prices[opp]) if opp == "B" else self._prices[opp]):
            if not _crosses(side, limit, p):
                break
            total += lvl[p]
        return total

    def vwap(self, side: str, lots: int) -> float | None:
        """Average price (ticks) of taking ``lots`` from ``side``'s levels; None if too thin."""
        need, cost = lots, 0
        lvl = self._lvl[side]
        for p in (reversed(self._prices[side]) if side == "B" else self._prices[side]):
            q = lvl[p]
            take = min(need, q)
            cost += take * p
            need -= take
            if need == 0:
                return cost / lots
        return None

    def mid(self) -> float | None:
        """Mid price in ticks, None unless both sides have a level."""
        b, a = self.best("B"), self.best("S")
        return None if b is None or a is None else (b + a) / 2.0

    # --- changes --------------------------------------------------------------------------------

    def _add_level_qty(self, side: str, px: int, dq: int) -> None:
        self._dirty = True
        lvl = self._lvl[side]
        q = lvl.get(px, 0) + dq
        if q > 0:
            if px not in lvl:
                bisect.insort(self._prices[side], px)
            lvl[px] = q
        elif px in lvl:
            del lvl[px]
            self._prices[side].remove(px)

    def _rest(self, order: Order) -> None:
        self._queues[order.side].setdefault(order.px, deque()).append(order)
        self._add_level_qty(order.side, order.px, order.qty - order.cum)

    def submit(self, order: Order, max_fill: int | None = None) -> list[Execution]:
        """Match ``order`` against the book; a GTC remainder rests, others are left to the caller.

        ``max_fill`` caps what an order may take in this call (a fault: partial fill); a GTC
        stopped by the cap while it still crosses does not rest (``holds`` is False: the caller
        keeps it). A FOK that cannot fill completely takes nothing.
        """
        side, opp = order.side, ("S" if order.side == "B" else "B")
        if order.tif == "FOK" and self.available(side, order.px) < order.leaves:
            return []
        cap = order.leaves if max_fill is None else min(order.leaves, max_fill)
        execs: list[Execution] = []
        while cap > 0:
            best = self.best(opp)
            if best is None or not _crosses(side, order.px, best):
                break
            queue = self._queues[opp][best]
            maker = queue[0]
            q = min(cap, maker.leaves)
            maker.cum += q
            order.cum += q
            cap -= q
            self._add_level_qty(opp, best, -q)
            if maker.cum >= maker.qty:
                maker.state = "filled"
                queue.popleft()
                if not queue:
                    del self._queues[opp][best]
            else:
                maker.state = "partial"
            execs.append(Execution(order, maker, best, q))
        if order.cum >= order.qty:
            order.state = "filled"
        elif order.cum > 0:
            order.state = "partial"
        if order.tif == "GTC" and order.is_open:
            best = self.best(opp)
            if best is None or not _crosses(side, order.px, best):
                self._rest(order)
        return execs

    def holds(self, order: Order) -> bool:
        """True when ``order`` rests in this book."""
        return order in self._queues[order.side].get(order.px, ())

    def remove(self, order: Order) -> bool:
        """Take a resting order out of the book (state untouched); False if it was not there."""
        queue = self._queues[order.side].get(order.px)
        if not queue or order not in queue:
            return False
        queue.remove(order)
        if not queue:
            del self._queues[order.side][order.px]
        self._add_level_qty(order.side, order.px, -(order.qty - order.cum))
        return True

    def only(self, account: str) -> bool:
        """True when every resting order belongs to ``account`` (or none rests)."""
        return all(o.account == account for side in self._queues.values()
                   for queue in side.values() for o in queue)

    def replace_ladder(self, bids: list[Order], asks: list[Order]) -> None:
        """Rest ``bids`` and ``asks`` (each best first, one order per price, every bid below
        every ask) in place of every resting order: what ``remove_account`` plus ``submit`` of
        each would leave, without matching (nothing crosses). Only for a book that holds one
        account's orders (``only``)."""
        self._dirty = True
        for side, ladder in (("B", bids), ("S", asks)):
            self._queues[side] = {o.px: deque((o,)) for o in ladder}
            self._lvl[side] = {o.px: o.qty - o.cum for o in ladder}
            self._prices[side] = sorted(o.px for o in ladder)

    def remove_account(self, account: str) -> list[Order]:
        """Take every resting order of ``account`` out of the book."""
        gone: list[Order] = []
        for side in ("B", "S"):
            for px in list(self._queues[side]):
                mine = [o for o in self._queues[side][px] if o.account == account]
                for o in mine:
                    self.remove(o)
                gone.extend(mine)
        return gone

    # --- publication ----------------------------------------------------------------------------

    def take_delta(self, ts: int) -> Delta | None:
        """Diff the book against the last published view; a Delta (seq + 1) or None."""
        if not self._dirty:
            return None
        self._dirty = False  # below, the published view becomes the levels (or equals them)
        changed: dict[str, list[tuple[int, int]]] = {}
        for side in ("B", "S"):
            cur, pub = self._lvl[side], self._pub[side]
            ch = [(p, q) for p, q in cur.items() if pub.get(p) != q]
            ch.extend((p, 0) for p in pub if p not in cur)
            ch.sort(reverse=(side == "B"))
            changed[side] = ch
        if not changed["B"] and not changed["S"]:
            return None
        self.seq += 1
        self._pub = {"B": dict(self._lvl["B"]), "S": dict(self._lvl["S"])}
        return Delta(sym=self.sym, seq=self.seq, ts=ts, b=changed["B"], a=changed["S"])

    def crossing_delta(self, ts: int, qty: int) -> Delta | None:
        """Fault ``md_crossed``: publish (seq + 1) a phantom bid 1 tick above the published best
        ask; the next ``take_delta`` deletes it again. None when no ask is published."""
        asks = self._pub["S"]
        if not asks:
            return None
        px = min(asks) + 1
        self.seq += 1
        self._pub["B"][px] = qty
        self._dirty = True  # the next delta deletes the phantom
        return Delta(sym=self.sym, seq=self.seq, ts=ts, b=[(px, qty)], a=[])

    def reset_seq(self) -> None:
        """Fault ``md_reset`` (a gateway restart): seq back to 0 and nothing published, so the
        next delta is seq 1 with the whole book."""
        self.seq = 0
        self._pub = {"B": {}, "S": {}}
        self._dirty = True

    def snapshot(self, ts: int) -> Snapshot:
        """The published book (best first) and the seq of the last delta it contains."""
        b = sorted(self._pub["B"].items(), reverse=True)
        a = sorted(self._pub["S"].items())
        return Snapshot(sym=self.sym, seq=self.seq, ts=ts, b=b, a=a)


def maker_quotes(
    fair: float,
    tick: float,
    *,
    spread_ticks: int,
    levels: int,
    level_qty: int,
    rng: np.random.Generator,
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The market maker's ladder around ``fair``: (bids, asks) as (px ticks, lots), best first.

    The touch is ``spread_ticks`` wide and contains the fair price; quantities are uniform in
    [level_qty/2, 3*level_qty/2].
    """
    ft = fair / tick
    bid0 = math.floor(ft - (spread_ticks - 1) / 2.0 + 1e-9)
    ask0 = bid0 + spread_ticks
    lo, hi = max(1, level_qty // 2), level_qty + level_qty // 2 + 1
    qb = rng.integers(lo, hi, size=levels)
    qa = rng.integers(lo, hi, size=levels)
    bids = [(bid0 - i, int(qb[i])) for i in range(levels) if bid0 - i > 0]
    asks = [(ask0 + i, int(qa[i])) for i in range(levels)]
    return bids, asks

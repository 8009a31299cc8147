"""The legging planner: how far a combo is from flat, and whether to chase or unwind (§7 step 2).

Pure functions over plain numbers; the ComboExecutor feeds them its fills and the live books.

Quantities. A combo's exposure is measured in the underlying's base units (grams of gold):
``E = sum(sign(side) * held_lots * base_per_lot)`` over its legs, signed (+ = net long). The
missing quantity on the short leg is the hedge of the other leg's unhedged quantity converted by
base units per lot and rounded to the nearest lot -- for an intent whose lot ratio was chosen to
match base units (28 SHFE au : 9 COMEX GC) that is exactly the lot-ratio conversion, and it stays
right for overfills and for holdings off the ratio. Rounding to whole lots leaves a residual that
is reported as exposure (``residual_base``): 28:9 leaves +6.87 g.

Flat means no whole-lot move on either leg would reduce ``|E|`` (``|E|`` below half the smaller
lot), or ``|E|`` is within the intent's own residual.

Costs, in leg A's currency (leg B's converted by the FX rate), positive = money lost:

- chase: cross the short leg's book up to ``touch +/- chase_ticks * k`` (k = this chase's number),
  walking the levels for the lots; cost = slippage vs the price the decision expected for that leg
  plus the fee; lots the book cannot show within the limit are valued at the limit;
- unwind: walk the book against what the over leg holds, for the excess lots (never more than it
  holds: an unwind does not open the other way); cost = the loss vs the average price of that
  holding plus the fee; the IOC limit is the worst level walked +/- ``max_slippage_ticks``.

A leg whose unwind overfilled holds the opposite of its side; bringing it back is an unwind too.
"""

from __future__ import annotations

import math
from typing import Any

_EPS = 1e-9


def book_mid(book: Any) -> float | None:
    """Mid price in ticks of a book view (a ``Top`` or a ``BookUpdate``: anything with best-first
    ``bid_px`` / ``ask_px`` lists), None unless both sides have a level."""
    if not book.bid_px or not book.ask_px:
        return None
    return (book.bid_px[0] + book.ask_px[0]) / 2.0


class Top:
    """The latest valid book levels of one instrument, best first.

    The planner reads only the four level lists, so a ``BookUpdate`` (same attribute names) can
    stand in for a ``Top`` as a leg's book.
    """

    __slots__ = ("ask_px", "ask_qty", "bid_px", "bid_qty", "ts_ns")

    def __init__(
        self,
        bid_px: list[int],
        bid_qty: list[int],
        ask_px: list[int],
        ask_qty: list[int],
        ts_ns: int,
    ) -> None:
        self.bid_px, self.bid_qty = list(bid_px), list(bid_qty)
        self.ask_px, self.ask_qty = list(ask_px), list(ask_qty)
        self.ts_ns = ts_ns

    def mid(self) -> float | None:
        """Mid price in ticks, None unless both sides have a level."""
        return book_mid(self)


class LegView:
    """What the planner needs to know about one leg of a combo."""

    __slots__ = (
        "base_per_lot",
        "book",
        "entry_avg_px",
        "expected_px",
        "fee",
        "held",
        "side",
        "tick_value",
    )

    def __init__(
        self,
        side: str,
        held: int,
        base_per_lot: float,
        tick_value: float,
        fee: float,
        expected_px: float,
        entry_avg_px: float,
        book: Top | None,
    ) -> None:
        self.side = side  #: the combo's side on this leg ("B"/"S")
        self.held = held  #: lots held in that direction (net of unwinds)
        self.base_per_lot = base_per_lot
        self.tick_value = tick_value  #: money (leg A currency) per tick per lot
        self.fee = fee  #: money (leg A currency) per lot
        self.expected_px = expected_px  #: ticks the decision assumed
        self.entry_avg_px = entry_avg_px  #: average entry fill price in ticks (0 = none)
        self.book = book

    @property
    def sign(self) -> int:
        """+1 for a bought leg, -1 for a sold one."""
        return 1 if self.side == "B" else -1


def round_lots(x: float) -> int:
    """Round a non-negative lot count to the nearest lot, halves up."""
    return math.floor(x + 0.5 + _EPS)


def exposure(legs: list[LegView]) -> float:
    """Return the signed net exposure of the legs in base units."""
    return sum(leg.sign * leg.held * leg.base_per_lot for leg in legs)


def is_flat(legs: list[LegView], tolerance: float = 0.0) -> bool:
    """True when no whole-lot move on any leg reduces ``|E|``, or ``|E| <= tolerance``."""
    e = abs(exposure(legs))
    if e <= tolerance + _EPS:
        return True
    return all(round_lots(e / leg.base_per_lot) == 0 for leg in legs)


def walk(
    px: list[int], qty: list[int], lots: int, limit: int | None, buy: bool
) -> tuple[int, int, int]:
    """Take up to ``lots`` from levels (best first) within ``limit``.

    Return (lots taken, sum of px * lots, worst price used; 0 if none).
    """
    got = notional = worst = 0
    for p, q in zip(px, qty, strict=False):
        if got >= lots:
            break
        if limit is not None and (p > limit if buy else p < limit):
            break
        take = min(q, lots - got)
        if take <= 0:
            continue
        got += take
        notional += take * p
        worst = p
    return got, notional, worst


def chase_estimate(leg: LegView, lots: int, k: int, chase_ticks: int) -> tuple[float, int] | None:
    """Return (cost, IOC limit) of adding ``lots`` on ``leg`` for chase number ``k``."""
    buy = leg.side == "B"
    book = leg.book
    if book is None:
        return None
    px, qty = (book.ask_px, book.ask_qty) if buy else (book.bid_px, book.bid_qty)
    if not px:
        return None
    limit = px[0] + chase_ticks * k if buy else px[0] - chase_ticks * k
    got, notional, _ = walk(px, qty, lots, limit, buy)
    paid = notional + (lots - got) * limit
    slip = (paid - lots * leg.expected_px) * leg.sign
    return slip * leg.tick_value + lots * leg.fee, limit


def unwind_estimate(leg: LegView, lots: int, max_slip: int) -> tuple[float, int] | None:
    """Return (cost, IOC limit) of closing ``lots`` of what ``leg`` holds, against its book.

    A leg holding its own side (``held > 0``) is unwound by trading the other way; one holding
    the opposite (an unwind overfilled, ``held < 0``) by trading its own side.
    """
    hold = leg.sign if leg.held > 0 else -leg.sign  # +1: the position is long
    sell = hold > 0
    book = leg.book
    if book is None:
        return None
    px, qty = (book.bid_px, book.bid_qty) if sell else (book.ask_px, book.ask_qty)
    if not px:
        return None
    got, notional, worst = walk(px, qty, lots, None, not sell)
    if got == 0:
        return None
    limit = worst - max_slip if sell else worst + max_slip
    got_px = notional + (lots - got) * limit
    entry = leg.entry_avg_px or leg.expected_px
    loss = (entry * lots - got_px) * hold
    return loss * leg.tick_value + lots * leg.fee, limit


def _moves(legs: list[LegView], e: float) -> list[tuple[str, int, int]]:
    """The whole-lot moves that reduce ``|E|``: (``chase``/``unwind``, leg, lots).

    On each leg one trade direction reduces ``|E|``. Against what the leg holds it is an unwind
    (at most the holding: an unwind never opens the other way); on the leg's own side from a
    non-negative holding it is a chase; the remaining case (opening against the combo's side) is
    not a repair.
    """
    sigma = 1 if e > 0 else -1
    out = []
    for i, leg in enumerate(legs):
        lots = round_lots(abs(e) / leg.base_per_lot)
        d = -sigma * leg.sign  # +1: trading the leg's own side reduces |E|
        if lots == 0:
            continue
        if leg.held * d < 0:
            out.append(("unwind", i, min(lots, abs(leg.held))))
        elif d > 0:
            out.append(("chase", i, lots))
    return out


def plan_repair(
    legs: list[LegView],
    *,
    tolerance: float,
    chases_done: int,
    chase_tries: int,
    chase_ticks: int,
    max_slip: int,
    no_chase: frozenset[int] = frozenset(),
    avoid_unwind: frozenset[int] = frozenset(),
    target_base: float = 0.0,
) -> dict[str, Any]:
    """Decide the next repair step for a two-leg combo.

    Return a dict with every input and ``choice``: ``flat`` (nothing to do), ``chase`` or
    ``unwind`` (with ``leg``, ``side``, ``lots``, ``px``), ``wait`` (a needed book is missing) or
    ``stop`` (no allowed move reduces ``|E|``: the residual stands). Legs in ``no_chase`` (the
    venue rejected or we denied an order there) are never chased, only unwound against; chases
    stop after ``chase_tries``. The cheaper priced move wins; a tie goes to the chase. An unwind
    on a leg in ``avoid_unwind`` (our own pre-trade checks denied one there: it would grow a
    limited budget) is taken only when no other move is priced. ``target_base`` (an uneven
    intent's own exposure, see ``ComboRecord.target``): the moves bring ``E`` to it instead of
    to zero, and flat means within half a lot of it.
    """
    e = exposure(legs) - target_base
    plan: dict[str, Any] = {
        "held": [leg.held for leg in legs],
        "imbalance_base": round(e, 6),
        "tolerance": round(tolerance, 6),
        "chases": chases_done,
        "chase_tries": chase_tries,
        "chase_lots": 0,
        "chase_cost": None,
        "unwind_lots": 0,
        "unwind_cost": None,
    }
    if target_base:
        plan["target_base"] = round(target_base, 6)
        if all(round_lots(abs(e) / leg.base_per_lot) == 0 for leg in legs):
            return {**plan, "choice": "flat"}
    elif is_flat(legs, tolerance):
        return {**plan, "choice": "flat"}
    priced: list[tuple[float, int, str, int, int, int]] = []  # cost, rank, kind, leg, lots, px
    fallback: list[tuple[float, int, str, int, int, int]] = []  # moves to avoid if others exist
    blocked = False  # a move exists but its book is missing
    for kind, i, lots in _moves(legs, e):
        leg = legs[i]
        which = "short_leg" if kind == "chase" else "over_leg"
        if plan[f"{kind}_cost"] is None:
            plan.update({which: i, f"{kind}_lots": lots})
        if kind == "chase":
            if i in no_chase or chases_done >= chase_tries:
                continue
            est = chase_estimate(leg, lots, chases_done + 1, chase_ticks)
        else:
            est = unwind_estimate(leg, lots, max_slip)
        if est is None:
            blocked = True
            continue
        if plan[f"{kind}_cost"] is None or est[0] < plan[f"{kind}_cost"]:
            plan.update({f"{kind}_cost": round(est[0], 6), f"{kind}_px": est[1], which: i})
            plan[f"{kind}_lots"] = lots
        move = (est[0], 0 if kind == "chase" else 1, kind, i, lots, est[1])
        (fallback if kind == "unwind" and i in avoid_unwind else priced).append(move)
    priced = priced or fallback
    if priced:
        _, _, kind, i, lots, px = min(priced)
        leg = legs[i]
        if kind == "chase":
            side = leg.side
        else:  # trade against the holding: sell what is long, buy back what is short
            long = (leg.sign if leg.held > 0 else -leg.sign) > 0
            side = "S" if long else "B"
        return {**plan, "choice": kind, "leg": i, "side": side, "lots": lots, "px": px}
    return {**plan, "choice": "wait" if blocked else "stop"}


__all__ = [
    "LegView",
    "Top",
    "book_mid",
    "chase_estimate",
    "exposure",
    "is_flat",
    "plan_repair",
    "round_lots",
    "unwind_estimate",
    "walk",
]

"""The monitoring closes every strategy kind shares (issue 15, item 6), over ``Leg`` objects:

- ``limit_state``: whether a leg is limit-locked (its feed synced and its update valid, one side
  of its book empty while the other has levels) or its session is halted: the kinds close what
  is held on it (``close_on_limit``, reasons ``limit`` / ``halt``);
- ``close_leg``: the order closing what a leg holds, walking the side it trades against or, when
  that side is empty (locked against us), an IOC at the locked price (the other side's touch);
- ``DeviationClock``: how long a deviation has stayed beyond ``k`` sigma against the position
  (``deviation_close_sigma`` for ``deviation_close_s``).

Every function is called only off the hot path (a leg already unusable, a close due).
"""

from __future__ import annotations

from collections.abc import Iterable

from actors.strategy.legs import Leg, walk_levels
from transports.wire.messages import LegSpec

_SYNCED = "SYNCED"


def limit_state(legs: Iterable[Leg]) -> str:
    """``halt`` when a leg's session is halted, ``limit`` when a leg is limit-locked (valid,
    synced, one side empty and the other not), checked leg by leg in order; else ""."""
    for leg in legs:
        if leg.session == "halt":
            return "halt"
        if leg.valid and leg.feed == _SYNCED and (leg.bid_n == 0) != (leg.ask_n == 0):
            return "limit"
    return ""


def close_leg(leg: Leg, held: int, slip: int) -> tuple[LegSpec | None, float]:
    """The order closing ``held`` signed lots on ``leg`` (sell what is long, buy what is short)
    and its expected VWAP (ticks).

    The side the close trades against is walked, its limit ``slip`` ticks past the worst level
    reached; when that side is empty (the leg is limit-locked against us) the order is priced
    at the other side's touch, the locked price (it rests nowhere: IOC). ``(None, 0.0)`` when
    the leg has no level at all (it cannot be priced)."""
    lots = abs(held)
    sell = held > 0
    vwap, filled, worst = walk_levels(leg.bid_px, leg.bid_qty, lots) if sell else \
        walk_levels(leg.ask_px, leg.ask_qty, lots)
    if filled:
        lim = worst - slip if sell else worst + slip
        return LegSpec(leg.venue, leg.sym, "S" if sell else "B", lots, lim, vwap), vwap
    other = leg.ask_px if sell else leg.bid_px
    if not other:
        return None, 0.0
    px = other[0]
    return LegSpec(leg.venue, leg.sym, "S" if sell else "B", lots, px, float(px)), float(px)


def close_specs(held: Iterable[tuple[Leg, int]], slip: int
                ) -> tuple[list[LegSpec] | None, list[float]]:
    """``close_leg`` for every (leg, signed lots) held (legs holding nothing are skipped): the
    orders and each held leg's expected VWAP (0.0 for a leg holding nothing); ``None`` for the
    orders when a held leg cannot be priced."""
    specs: list[LegSpec] = []
    vwaps: list[float] = []
    for leg, lots in held:
        if not lots:
            vwaps.append(0.0)
            continue
        spec, vwap = close_leg(leg, lots, slip)
        if spec is None:
            return None, []
        specs.append(spec)
        vwaps.append(vwap)
    return specs, vwaps


class DeviationClock:
    """Since when a deviation has stayed beyond its bound against the position: ``beyond``
    says whether it has for ``hold_ns``; a reading inside the bound (or a NaN) restarts it,
    as does ``reset`` (a new position)."""

    __slots__ = ("since_ns",)

    def __init__(self) -> None:
        self.since_ns = 0

    def reset(self) -> None:
        self.since_ns = 0

    def beyond(self, against: float, bound: float, now_ns: int, hold_ns: int) -> bool:
        """``against`` (the deviation, positive against the position) > ``bound`` since at
        least ``hold_ns`` ago (``bound`` NaN or ``hold_ns`` <= 0: never)."""
        if hold_ns <= 0 or not against > bound:
            self.since_ns = 0
            return False
        if not self.since_ns:
            self.since_ns = now_ns
        return now_ns - self.since_ns >= hold_ns


__all__ = ["DeviationClock", "close_leg", "close_specs", "limit_state"]

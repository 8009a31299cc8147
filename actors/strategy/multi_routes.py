"""The venue pairs of a multi-venue strategy: each ordered pair's clip and costs (``Route``) and
the executable edge of every pair on the current books (``price_routes``), split off
``actors.strategy.multi`` for size. Formulas: ``actors.strategy.multi``'s docstring."""

from __future__ import annotations

from collections.abc import Sequence

from actors.strategy.legs import Leg, walk_levels
from kernels.lots import best_lot_pair
from transports.config.engine import ContractConfig, PairConfig

#: (leg walk) = (VWAP ticks, lots filled, worst level ticks), ``walk_levels``' result
Walk = tuple[float, int, int]


class Route:
    """One ordered venue pair: buy ``legs[i]``, sell ``legs[j]`` (its clip, within
    ``max_clip_lots_a/b`` and each contract's ``max_lots_per_order``, and its costs)."""

    __slots__ = ("cost", "fee_open", "i", "j", "lots_i", "lots_j", "name", "need", "residual")

    def __init__(self, name: str, i: int, j: int, ci: ContractConfig, cj: ContractConfig,
                 tick_i: float, tick_j: float, pair: PairConfig) -> None:
        self.name, self.i, self.j = name, i, j
        la, lb, resid = best_lot_pair(ci.base_per_lot or ci.multiplier,
                                      cj.base_per_lot or cj.multiplier,
                                      min(pair.max_clip_lots_a, ci.max_lots_per_order),
                                      min(pair.max_clip_lots_b, cj.max_lots_per_order))
        self.lots_i, self.lots_j, self.residual = int(la), int(lb), abs(float(resid))
        units = self.lots_i * ci.multiplier
        self.fee_open = (self.lots_i * ci.fee_per_lot + self.lots_j * cj.fee_per_lot) / units
        self.cost = self.fee_open + 2.0 * pair.slippage_ticks * (tick_i + tick_j)
        self.need = self.cost * pair.safety_factor + pair.min_edge


def price_routes(routes: Sequence[Route], legs: Sequence[Leg], skip: Sequence[bool]
                 ) -> tuple[tuple[float, Route] | None, list[tuple[Route, Walk, Walk, float]]]:
    """Price every route not in ``skip`` for its clip: return the best (excess over its need,
    route), whatever the excess, and the routes whose ``edge >= need`` as (route, ask walk of
    the buy leg, bid walk of the sell leg, edge), best first (ties: the routes' order)."""
    best: tuple[float, Route] | None = None
    found: list[tuple[float, int, Route, Walk, Walk, float]] = []
    for n, r in enumerate(routes):
        if skip[n]:
            continue
        lb, ls = legs[r.i], legs[r.j]
        ask = walk_levels(lb.ask_px, lb.ask_qty, r.lots_i)
        bid = walk_levels(ls.bid_px, ls.bid_qty, r.lots_j)
        if ask[1] < r.lots_i or bid[1] < r.lots_j:
            continue  # too thin for the clip
        edge = bid[0] * ls.tick - ask[0] * lb.tick - r.fee_open
        excess = edge - r.need
        if best is None or excess > best[0]:
            best = (excess, r)
        if excess >= 0.0:
            found.append((-excess, n, r, ask, bid, edge))
    found.sort(key=lambda c: (c[0], c[1]))
    return best, [(r, ask, bid, edge) for _, _, r, ask, bid, edge in found]


__all__ = ["Route", "Walk", "price_routes"]

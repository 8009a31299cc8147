"""The parity strategy's triggers: when a pair opens, on the clip's executable prices.

``zscore`` (the edge beats the costs and |z| is beyond ``z_entry``: the original behaviour),
``edge`` (the edge alone, or with |z| >= ``z_filter``) and ``ratio`` (the price over parity
beyond ``ratio_entry_bps`` of the fair ratio, the edge still beating the costs), with the
pair's conditions (``z_filter``, ``min_touch_lots``). Functions over the ``StrategyCore`` they
serve (split off ``actors.strategy.strategy`` along the pricing/handlers seam; the core owns all
state). Direction -1 sells A and buys B (the spread is too high), +1 buys A and sells B.

``open_zscore`` is the per-tick path of the bench (and of most pairs): one frame from the
evaluated tick to the ``ComboIntent`` (the clip priced on the touch when it covers it, the
intent's bookkeeping inline); the other triggers share ``_walk_side`` / ``_open``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.core import Out
from actors.strategy.legs import walk_levels
from kernels.pricing import ratio_side
from transports.wire.messages import BookUpdate, ComboIntent, LegSpec

if TYPE_CHECKING:
    from actors.strategy.strategy import StrategyCore


def _thin_touch(c: StrategyCore, qa: list[int], qb: list[int]) -> bool:
    """The condition ``min_touch_lots``: both touches traded show at least that many."""
    m = c._min_touch
    return qa[0] < m or qb[0] < m


def open_zscore(c: StrategyCore, u: BookUpdate, fx: float, fair: float, z: float,
                mid_spread: float, now_ns: int) -> Out:
    """The ``zscore`` trigger: the edge beats the costs and |z| is beyond ``z_entry``.

    The per-tick open in one frame (the hot path of the bench): each side's z condition first
    (the walks and spreads are pure, so a side whose z condition fails is not priced at all; the
    decision is the same), a clip the best level covers priced inline (``walk_levels``' first
    step, same arithmetic: ``float(lots) * px / lots``), and ``StrategyCore._intent``'s open
    inline."""
    p, a, b = c._pair, c.a, c.b
    la, lb = c.lots_a, c.lots_b
    z_entry = c._z_entry
    d = 0
    if z >= z_entry:  # sell A, buy B
        qa, qb = a.bid_qty, b.ask_qty
        px = a.bid_px
        full = True  # the clip fills on both legs
        if qa[0] >= la:
            worst_a = px[0]
            pa = c._lots_a_f * worst_a / la
        else:
            pa, fill, worst_a = walk_levels(px, qa, la)
            full = fill >= la
        px = b.ask_px
        if qb[0] >= lb:
            worst_b = px[0]
            pb = c._lots_b_f * worst_b / lb
        else:
            pb, fill, worst_b = walk_levels(px, qb, lb)
            full = full and fill >= lb
        if full:
            spread = pa * a.tick - (pb * b.tick * fx * p.unit_factor * c._tax_k + p.premium)
            edge = spread - fair
            if edge >= c._need_fx:
                d = -1
    if not d and z <= -z_entry:  # buy A, sell B
        qa, qb = a.ask_qty, b.bid_qty
        px = a.ask_px
        full = True
        if qa[0] >= la:
            worst_a = px[0]
            pa = c._lots_a_f * worst_a / la
        else:
            pa, fill, worst_a = walk_levels(px, qa, la)
            full = fill >= la
        px = b.bid_px
        if qb[0] >= lb:
            worst_b = px[0]
            pb = c._lots_b_f * worst_b / lb
        else:
            pb, fill, worst_b = walk_levels(px, qb, lb)
            full = full and fill >= lb
        if full:
            spread = pa * a.tick - (pb * b.tick * fx * p.unit_factor * c._tax_k + p.premium)
            edge = fair - spread
            if edge >= c._need_fx:
                d = 1
    if not d:
        return c.guard.refuse("NO_EDGE", now_ns)
    m = c._min_touch
    if m and (qa[0] < m or qb[0] < m):
        return c.guard.refuse("THIN_TOUCH", now_ns)
    slip = p.max_slippage_ticks
    if d < 0:
        legs = [LegSpec(a.venue, a.sym, "S", la, worst_a - slip, pa),
                LegSpec(b.venue, b.sym, "B", lb, worst_b + slip, pb)]
    else:
        legs = [LegSpec(a.venue, a.sym, "B", la, worst_a + slip, pa),
                LegSpec(b.venue, b.sym, "S", lb, worst_b - slip, pb)]
    # ``StrategyCore._intent`` for an open, inline
    c.combo_seq = cid = c.combo_seq + 1  # ``PairPosition.next_id`` on the core's own
    c.posn.pending = cid
    c.intents += 1
    c.guard.last_refusal = ""  # the next refusal is journaled whatever it is
    c.entry = (mid_spread, mid_spread - fair, now_ns)  # what the exit rules measure from
    c.dev_since_ns = 0
    return [(c.combo, ComboIntent(cid, p.name, "open", d, legs, spread, fair, z, edge,
                                  c._cost_fx, c.residual_base, u.ts_event_ns, u.ts_recv_ns,
                                  u.ts_book_ns, now_ns))]


def _walk_side(c: StrategyCore, d: int) -> tuple[float, int, int, float, int, int]:
    """The clip's VWAP, fill and worst level on A and B for direction ``d`` (ticks)."""
    a, b = c.a, c.b
    if d < 0:
        ea = walk_levels(a.bid_px, a.bid_qty, c.lots_a)
        eb = walk_levels(b.ask_px, b.ask_qty, c.lots_b)
    else:
        ea = walk_levels(a.ask_px, a.ask_qty, c.lots_a)
        eb = walk_levels(b.bid_px, b.bid_qty, c.lots_b)
    return ea[0], ea[1], ea[2], eb[0], eb[1], eb[2]


def _conditions(c: StrategyCore, d: int, z: float) -> str:
    """The pair's conditions besides the edge: the z filter and the touch sizes ("" = met)."""
    p = c._pair
    if p.z_filter > 0.0 and -d * z < p.z_filter:
        return "Z_FILTER"
    if c._min_touch:
        a, b = c.a, c.b
        qa, qb = (a.bid_qty, b.ask_qty) if d < 0 else (a.ask_qty, b.bid_qty)
        if _thin_touch(c, qa, qb):
            return "THIN_TOUCH"
    return ""


def _open(c: StrategyCore, u: BookUpdate, d: int, w: tuple[float, int, int, float, int, int],
          spread: float, mean: float, z: float, edge: float, now_ns: int) -> Out:
    a, b, slip = c.a, c.b, c._pair.max_slippage_ticks
    pa, _, worst_a, pb, _, worst_b = w
    if d < 0:
        legs = [LegSpec(a.venue, a.sym, "S", c.lots_a, worst_a - slip, pa),
                LegSpec(b.venue, b.sym, "B", c.lots_b, worst_b + slip, pb)]
    else:
        legs = [LegSpec(a.venue, a.sym, "B", c.lots_a, worst_a + slip, pa),
                LegSpec(b.venue, b.sym, "S", c.lots_b, worst_b - slip, pb)]
    return c._intent("open", d, legs, spread, mean, z, edge, c._cost_fx, u, now_ns)


def open_edge(c: StrategyCore, u: BookUpdate, fx: float, fair: float, z: float,
              mid_spread: float, now_ns: int) -> Out:
    """The ``edge`` trigger: open when the clip's executable deviation from fair beats
    ``cost x safety_factor + min_edge`` (no statistical gate unless ``z_filter``).

    Only the side the mid points to can have an edge (its executable spread is never better
    than the mid's), so one side is priced per tick."""
    d = -1 if mid_spread >= fair else 1
    w = _walk_side(c, d)
    if w[1] < c.lots_a or w[4] < c.lots_b:
        return c.guard.refuse("DEPTH", now_ns)
    spread = w[0] * c.a.tick - c._parity(w[3], fx)
    edge = spread - fair if d < 0 else fair - spread
    if edge < c._need_fx:
        return c.guard.refuse("NO_EDGE", now_ns)
    why = _conditions(c, d, z)
    if why:
        return c.guard.refuse(why, now_ns)
    return _open(c, u, d, w, spread, fair, z, edge, now_ns)


def ratio_mid(c: StrategyCore, mid_a: float, par_mid: float, mean_ratio: float) -> None:
    """Keep the ratio trigger's fair ratio and the mid's deviation from it (bps) in
    ``c.rlast``: the rolling mean of the mid ratio, or ``1 + fair_basis / parity(mid_B)``."""
    fb = c._pair.fair_basis
    fair_ratio = mean_ratio if fb is None else (1.0 + fb / par_mid if par_mid else 0.0)
    dev_bps, _ = ratio_side(mid_a, par_mid, fair_ratio)
    c.rlast = (dev_bps, fair_ratio)


def open_ratio(c: StrategyCore, u: BookUpdate, fx: float, z: float, now_ns: int) -> Out:
    """The ``ratio`` trigger: open when the executable price over parity is beyond
    ``ratio_entry_bps`` of the fair ratio and its money still beats the costs."""
    mid_dev, fair_ratio = c.rlast
    if not fair_ratio > 0.0 or mid_dev != mid_dev:
        return c.guard.refuse("NO_FAIR", now_ns)
    d = -1 if mid_dev >= 0.0 else 1
    w = _walk_side(c, d)
    if w[1] < c.lots_a or w[4] < c.lots_b:
        return c.guard.refuse("DEPTH", now_ns)
    px_a, par_b = w[0] * c.a.tick, c._parity(w[3], fx)
    dev_bps, edge = ratio_side(px_a, par_b, fair_ratio)
    if d > 0:
        dev_bps, edge = -dev_bps, -edge
    if not dev_bps >= c._pair.ratio_entry_bps:
        return c.guard.refuse("RATIO_BAND", now_ns)
    if edge < c._need_fx:
        return c.guard.refuse("NO_EDGE", now_ns)
    why = _conditions(c, d, z)
    if why:
        return c.guard.refuse(why, now_ns)
    spread = px_a - par_b
    mean = spread - edge if d < 0 else spread + edge  # the fair ratio's spread at this price
    return _open(c, u, d, w, spread, mean, z, edge, now_ns)


__all__ = ["open_edge", "open_ratio", "open_zscore", "ratio_mid"]

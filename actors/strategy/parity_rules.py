"""The parity strategy's gates and closes: the full open gate (``open_block``), the exit rules,
the monitoring closes (deviation held too long, a leg limit-locked or halted), the close
(``close``) and its legs (the triggers are ``actors.strategy.parity_triggers``). Functions
over the ``StrategyCore`` they serve (split off ``actors.strategy.strategy`` for size; the
core owns all state).

Sign conventions: direction -1 sells A and buys B (the spread is too high), +1 buys A and sells
B; the deviation is ``mid_spread - fair``; "against the position" is ``-direction x deviation``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from actors.core import Out
from actors.strategy.closes import close_leg
from transports.wire.messages import BookUpdate, Decision, LegSpec

if TYPE_CHECKING:
    from actors.strategy.strategy import StrategyCore

# --- the open gate -------------------------------------------------------------------------------


def open_block(c: StrategyCore, now_ns: int) -> str:
    """Why no combo may open now (besides the legs and the signal), or "" (``PairGuard``'s
    order, inline: the quote age is that of legs A and B, the clock-jump check every leg's).

    The whole gate, for a tick where one of the rare ones is set (a halt, a trading state, a
    venue gate, a cooldown, a clock jump, a calendar); ``StrategyCore.on_book_update`` checks
    the quote age alone when none is."""
    g = c.guard
    if g.halted:
        return "HALTED"
    if g.trading != "ACTIVE":
        return g.trading  # REDUCING, HALTED
    gate = g.venue_block()
    if gate:
        return gate
    if now_ns < g.cooldown_until_ns:
        return "COOLDOWN"
    a, b = c.a, c.b
    oldest_ns = min(a.ts_event_ns - a.offset_ns, b.ts_event_ns - b.offset_ns)  # our time
    if now_ns - oldest_ns > c._max_age_ns:
        return "STALE_QUOTE"
    if g.fresh_after_ns:
        # after a freeze the books come back through fresh snapshots: a quote from before
        # the node noticed the freeze, however young it looks, is not the world now
        if min(oldest_ns, *(x.ts_event_ns - x.offset_ns for x in c._gates)) < g.fresh_after_ns:
            return "CLOCK_JUMP"
        g.fresh_after_ns = 0
    budget = c._budget_ns
    for leg in c._cal_legs:
        st = leg.calendar_state(now_ns, budget)
        # a gateway status (known, and open since the leg is usable) overrides a closed
        # calendar; a calendar that is open but closes within the budget still refuses
        if st != "ok" and not (st == "closed" and leg.session_known):
            return "CLOSED"
    return ""


# --- closes --------------------------------------------------------------------------------------


def exit_reason(c: StrategyCore, mid_spread: float, fair: float, std: float, z: float,
                now_ns: int) -> str:
    """Why the position closes now, or "": ``flatten``, ``stop_loss`` (the deviation moved
    ``stop_loss`` against us since entry), ``deviation`` (beyond ``deviation_close_sigma``
    sigmas against us for ``deviation_close_s``), ``time_stop``, then the exit rule:
    ``take_profit`` (the mid spread moved ``take_profit`` our way since entry) or ``revert``
    (zscore: z inside ``z_exit``; edge: the deviation inside ``exit_edge``; ratio: the mid
    ratio inside ``ratio_exit_bps``)."""
    if c.guard.flattening:
        return "flatten"
    p, d = c._pair, c.posn.pos_dir
    dev = mid_spread - fair
    entry_ms, entry_dev, entry_ns = c.entry
    if p.stop_loss > 0.0 and -d * (dev - entry_dev) >= p.stop_loss:
        return "stop_loss"
    k = c._dev_k
    if k > 0.0:
        if -d * dev > k * std:  # std NaN (no window): never beyond
            if not c.dev_since_ns:
                c.dev_since_ns = now_ns
            elif now_ns - c.dev_since_ns >= c._dev_ns:
                return "deviation"
        else:
            c.dev_since_ns = 0
    if c._time_stop_ns and now_ns - (c.posn.opened_ns or entry_ns) >= c._time_stop_ns:
        return "time_stop"
    if p.exit_rule == "take_profit":
        return "take_profit" if d * (mid_spread - entry_ms) >= p.take_profit else ""
    trig = c._trig
    if trig == 0:  # zscore
        back = z <= p.z_exit if d < 0 else z >= -p.z_exit
    elif trig == 1:  # edge
        back = dev <= p.exit_edge if d < 0 else dev >= -p.exit_edge
    else:  # ratio
        r = c.rlast[0]
        back = r <= p.ratio_exit_bps if d < 0 else r >= -p.ratio_exit_bps
    return "revert" if back else ""


def close_on_limit(c: StrategyCore, u: BookUpdate, why: str, now_ns: int) -> Out:
    """Close what is held because a leg is limit-locked or halted (``close_on_limit``; the
    verdict is ``actors.strategy.closes.limit_state``'s)."""
    block = c.guard.close_block(now_ns)
    if block:
        return c.guard.refuse(block, now_ns)
    last = c._last
    fair, z = (last[1], last[3]) if last is not None else (0.0, 0.0)
    return close(c, u, c._fx, fair, z, why, now_ns)


def close(c: StrategyCore, u: BookUpdate, fx: float, fair: float, z: float, reason: str,
          now_ns: int) -> Out:
    """Close what is held (both legs against the position), journaling ``reason``."""
    legs, spread = close_legs(c, fx, 3 if c.guard.flattening else 1)
    if legs is None:
        return c.guard.refuse("LIMIT_UNPRICED", now_ns)
    if not legs:
        c.posn.pos_dir = 0
        return []
    c.closes[reason] = c.closes.get(reason, 0) + 1
    out = c._intent("close", c.posn.pos_dir, legs, spread, fair, z, 0.0, c._cost(fx), u, now_ns)
    out.append((c.journal, Decision(c.name, "close", reason, now_ns)))
    return out


def close_legs(c: StrategyCore, fx: float, slip_k: int) -> tuple[list[LegSpec] | None, float]:
    """The legs closing the position (sell what is long, buy what is short) and the spread
    they price; ``(None, 0.0)`` when a held leg cannot be priced at all."""
    slip = c._pair.max_slippage_ticks * slip_k
    pa, pb = c.posn.pos_a_lots, c.posn.pos_b_lots
    legs: list[LegSpec] = []
    xa = xb = 0.0
    if pa:
        spec, xa = close_leg(c.a, pa, slip)
        if spec is None:
            return None, 0.0
        legs.append(spec)
    if pb:
        spec, xb = close_leg(c.b, pb, slip)
        if spec is None:
            return None, 0.0
        legs.append(spec)
    spread = xa * c.a.tick - c._parity(xb, fx) if pa and pb else 0.0
    return legs, spread


__all__ = ["close", "close_legs", "close_on_limit", "exit_reason", "open_block"]

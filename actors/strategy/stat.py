"""Statistical pairs (kind ``stat``): trade the mean reversion of ``ln P_A - beta ln P_B -
alpha`` with (alpha, beta) from a Kalman filter, while an Engle-Granger test says the pair is
cointegrated.

In and out as every strategy kind (``actors.strategy.strategy``): ``BookUpdate`` of both legs,
``SessionStatus``, ``FeedHealth``, ``VenueGate``, ``ClockJump``, ``TradingState``, ``Halt``,
``Resume``, ``Flatten``, ``SetParams`` (every ``[pairs.stat]`` field is live, as are the pair's
live fields), ``ComboState``; out ``ComboIntent`` to the ComboExecutor and ``Decision`` records.

Signal (``actors.strategy.stat_signal``): samples every ``stat.sample_ms`` of event time (the
legs' quote times in our clock; a sample is taken once both legs quoted since the last one, or
one leg has run two periods past it: ``StatSignal.sample_due``), the Kalman hedge, the z-score
of the spread against its rolling window (``z_window``, winsorised at ``z_entry``), the
Engle-Granger p-value and the half-life on their schedule. Per tick, the spread of the mids
under the current hedge is scored against the window.

Opens, after the legs' refusals (as parity: ``INVALID_<leg>``, the feed state, ``CLOSED_<leg>``,
``EMPTY_<leg>``), ``SKEW``, ``WARMUP`` (filter burn-in and the first test) and the guard's gates
(``PairGuard.open_block``): ``NOT_COINTEGRATED`` (p-value above ``coint_pvalue`` or most of the
test window gated), ``HALF_LIFE`` (beyond ``max_half_life_s``), ``WARMUP`` (the z window has
not ``min(200, z_window)`` accepted samples yet), ``BROKEN`` (|z|
at or beyond ``z_stop``), ``STOPPED`` (after a stop, until |z| is back inside ``z_exit``),
``NO_DEPTH`` (the books do not show the clip), ``NO_EDGE``. Short the spread (sell A, buy B)
when ``z >= z_entry``, long (buy A, sell B) when ``z <= -z_entry``, and only when the
executable spread of the clip beats the window's mean by ``cost x safety_factor + min_edge``:

    short: ln vwap_bid_A - beta ln vwap_ask_B - alpha - mean
    long:  mean - (ln vwap_ask_A - beta ln vwap_bid_B - alpha)
    cost  = 2 x [(la fee_A + lb fee_B) / (la mult_A P_A) + slippage_ticks (tick_A / P_A +
            beta tick_B / P_B)]       (log units = fractions of notional; open and close)
    min_edge is in A's price units, divided by P_A.

Lots: ``la = max_clip_lots_a``, ``lb = round(beta la mult_A P_A / (mult_B P_B))`` within
``[1, max_clip_lots_b]`` (B's notional beta times A's). ``residual_base`` is what the rounding
leaves unhedged, in A's base units: ``(beta la mult_A P_A - lb mult_B P_B) / (beta mult_A P_A)
x base_A``. The two legs are different underlyings: each is flat after a close.

Closes (when the guard's ``close_block`` allows): reverted (short: ``z <= z_exit``; long:
``z >= -z_exit``), stopped on ``|z| >= z_stop`` (the pair broke), after ``max_hold_s``, or
when the spread stayed ``deviation_close_sigma`` against the position for ``deviation_close_s``
(the documents' monitoring rule; the pair's fields) -- each journaled ``stop`` -- or a flatten;
with ``close_on_limit``, at once when leg A or B is limit-locked or halted (journaled ``close``
``limit`` / ``halt``; ``actors.strategy.closes``, a leg whose side is empty as an IOC at the
locked price).
"""

from __future__ import annotations

import math
from typing import Any

from actors.core import Out
from actors.strategy.base import PairStrategyCore
from actors.strategy.closes import close_specs, limit_state
from actors.strategy.guard import PairGuard, PairPosition
from actors.strategy.legs import Leg, walk_levels
from actors.strategy.stat_signal import StatSignal
from actors.topology import DEFAULT, Topology
from transports.calendar import Calendar
from transports.config.engine import ContractConfig, PairConfig, live_pair_fields
from transports.config.engine import pair_value as _pair_value
from transports.config.strategies import StatConfig
from transports.wire.messages import (
    BookUpdate,
    ComboIntent,
    ComboState,
    Decision,
    LegSpec,
)


class StatPairCore(PairStrategyCore):
    """Pure statistical-pairs logic for one pair (module docstring)."""

    def __init__(self, name: str, pair: PairConfig, contracts: dict[str, ContractConfig],
                 combo: str = "combo", epoch: int = 1, pair_index: int = 0, *,
                 calendars: dict[str, Calendar] | None = None,
                 topo: Topology = DEFAULT) -> None:
        super().__init__(name)
        cals = calendars or {}
        ca, cb = contracts[pair.leg_a], contracts[pair.leg_b]
        self.a = Leg(ca, "A", cals.get(ca.venue))
        self.b = Leg(cb, "B", cals.get(cb.venue))
        self._legs = {(x.venue, x.sym): x for x in (self.a, self.b)}
        self.session_legs = self._legs
        self.feed_legs = (self.a, self.b)
        self.combo = combo
        self.journal = topo.journal
        self.guard = PairGuard(name, topo.journal, (ca.venue, cb.venue))
        self.pos = PairPosition(pair.name, epoch, pair_index)
        st = pair.stat if pair.stat is not None else StatConfig()
        self.sig = StatSignal(st, pair.z_window, float(pair.z_entry))
        self.intents = 0
        self.stopped = False  #: after a stop: no open until |z| is back inside z_exit
        self._deviated_since = 0  #: since when the spread is beyond deviation_close_sigma
        self.stops: dict[str, int] = {}
        self.lots = [0, 0]
        self.residual_base = 0.0
        self._last: tuple[float, float, float, float] | None = None  # spread, mean, std, z
        self._pair = pair
        self._configure(pair)

    @property
    def pair(self) -> PairConfig:
        return self._pair

    def _configure(self, pair: PairConfig) -> None:
        self._pair = pair
        self.st = pair.stat if pair.stat is not None else StatConfig()
        self.sig.configure(self.st, float(pair.z_entry))
        self._skew_ns = pair.max_quote_skew_ms * 1_000_000
        self._max_age_ns = pair.max_quote_age_ms * 1_000_000
        self._budget_ns = pair.hedge_budget_ms * 1_000_000
        self._cooldown_ns = pair.retry_cooldown_ms * 1_000_000
        self._max_hold_ns = round(self.st.max_hold_s * 1e9)
        for leg in (self.a, self.b):
            leg.cal_lo, leg.cal_hi = 0, -1

    # --- combo states and the live-change check (control inputs: actors.strategy.base) --

    def on_combo_state(self, s: ComboState, now_ns: int) -> Out:
        if s.pair == self._pair.name:
            self.pos.apply(s, self.guard, now_ns, self._cooldown_ns)
        return []

    # --- the tick -----------------------------------------------------------------------------

    def on_book_update(self, u: BookUpdate, now_ns: int) -> Out:
        leg = self._legs.get((u.venue, u.sym))
        if leg is None:
            return []
        leg.take(u)
        a, b, g = self.a, self.b, self.guard
        for x in (a, b):
            if not x.ok:
                if self._pair.close_on_limit and not self.pos.flat and self.pos.pending is None:
                    # a leg limit-locked (one side empty) or halted: close what is held
                    why = limit_state((a, b))
                    if why:
                        last = self._last
                        z, mean = (last[3], last[1]) if last is not None else (0.0, 0.0)
                        return self._close(u, why, z, mean, now_ns)
                return g.refuse(x.refusal(), now_ns)
        if abs((a.ts_event_ns - a.offset_ns) - (b.ts_event_ns - b.offset_ns)) > self._skew_ns:
            return g.refuse("SKEW", now_ns)
        pa = (a.bid_px[0] + a.ask_px[0]) * 0.5 * a.tick
        pb = (b.bid_px[0] + b.ask_px[0]) * 0.5 * b.tick
        y, x = math.log(pa), math.log(pb)
        sig = self.sig
        # event time, our clock: a sample is due a period after the last one (less a quarter:
        # the legs' quote times jitter), taken once both legs quoted since the last sample
        # (contemporaneous prices), or once one leg alone has run two periods (the other is
        # quiet: its last quote stands)
        ta, tb = a.ts_event_ns - a.offset_ns, b.ts_event_ns - b.offset_ns
        t_ns = ta if ta > tb else tb
        if sig.sample_due(ta, tb):
            sig.sample(t_ns, x, y, ta, tb)
        out = self._decide(u, x, y, pa, pb, now_ns)
        # the test runs on its schedule, never per tick, and after the decision: not on a tick
        # that sends an intent (statsmodels' milliseconds would delay it); the verdict holds
        # from the next tick
        if sig.due(t_ns) and not any(isinstance(m, ComboIntent) for _, m in out):
            sig.test(t_ns)
        return out

    def _decide(self, u: BookUpdate, x: float, y: float, pa: float, pb: float,
                now_ns: int) -> Out:
        a, b, g, sig = self.a, self.b, self.guard, self.sig
        s = sig.spread(x, y)
        mean, std = sig.mean_std()
        z = (s - mean) / std if std > 1e-12 else 0.0
        self._last = (s, mean, std, z)
        if self.pos.pending is not None:
            return []
        if g.flattening or self.pos.pos_dir != 0 or not self.pos.flat:
            return self._maybe_close(u, z, mean, now_ns)
        if not sig.tests:
            return g.refuse("WARMUP", now_ns)
        if self.stopped and abs(z) <= self._pair.z_exit:
            self.stopped = False
        block = g.open_block(now_ns, (a, b), self._max_age_ns, self._budget_ns)
        if block:
            return g.refuse(block, now_ns)
        if not sig.cointegrated():
            return g.refuse("NOT_COINTEGRATED", now_ns)
        if not sig.half_life_s <= self.st.max_half_life_s:
            return g.refuse("HALF_LIFE", now_ns)
        if not sig.warm:  # the z window is still filling with accepted samples
            return g.refuse("WARMUP", now_ns)
        if abs(z) >= self.st.z_stop:
            return g.refuse("BROKEN", now_ns)
        if self.stopped:
            return g.refuse("STOPPED", now_ns)
        return self._maybe_open(u, z, mean, pa, pb, now_ns)

    def _size(self, pa: float, pb: float) -> tuple[int, int]:
        """The beta-weighted clip at mids ``pa``, ``pb`` (module docstring)."""
        p, ca, cb = self._pair, self.a.cfg, self.b.cfg
        beta = float(self.sig.theta[1])
        la = p.max_clip_lots_a
        hedge = beta * la * ca.multiplier * pa
        lb = max(1, min(p.max_clip_lots_b, round(hedge / (cb.multiplier * pb))))
        self.lots = [la, lb]
        if beta > 0:
            base_a = ca.base_per_lot or ca.multiplier
            self.residual_base = (hedge - lb * cb.multiplier * pb) / (beta * ca.multiplier * pa) \
                * base_a
        return la, lb

    def _cost(self, la: int, lb: int, pa: float, pb: float) -> float:
        """Round-trip cost of the clip in log units (fractions of A's notional)."""
        p, a, b = self._pair, self.a, self.b
        beta = abs(float(self.sig.theta[1]))
        fees = (la * a.cfg.fee_per_lot + lb * b.cfg.fee_per_lot) / (la * a.cfg.multiplier * pa)
        slip = p.slippage_ticks * (a.tick / pa + beta * b.tick / pb)
        return 2.0 * (fees + slip)

    def _maybe_open(self, u: BookUpdate, z: float, mean: float, pa: float, pb: float,
                    now_ns: int) -> Out:
        p, a, b, sig = self._pair, self.a, self.b, self.sig
        if z >= p.z_entry:  # A rich: short the spread, sell A and buy B
            direction, side_a, side_b = -1, "S", "B"
            books = (a.bid_px, a.bid_qty, b.ask_px, b.ask_qty)
        elif z <= -p.z_entry:  # A cheap: long the spread
            direction, side_a, side_b = 1, "B", "S"
            books = (a.ask_px, a.ask_qty, b.bid_px, b.bid_qty)
        else:
            return self.guard.refuse("NO_EDGE", now_ns)
        la, lb = self._size(pa, pb)
        px_a, fill_a, worst_a = walk_levels(books[0], books[1], la)
        px_b, fill_b, worst_b = walk_levels(books[2], books[3], lb)
        if fill_a < la or fill_b < lb:
            return self.guard.refuse("NO_DEPTH", now_ns)
        s_exec = math.log(px_a * a.tick) - float(sig.theta[1]) * math.log(px_b * b.tick) \
            - float(sig.theta[0])
        edge = (s_exec - mean) * -direction  # short: s above the mean; long: below
        cost = self._cost(la, lb, pa, pb)
        if edge < cost * p.safety_factor + p.min_edge / pa:
            return self.guard.refuse("NO_EDGE", now_ns)
        slip = p.max_slippage_ticks
        sa, sb = (-slip, slip) if direction < 0 else (slip, -slip)
        legs = [LegSpec(a.venue, a.sym, side_a, la, worst_a + sa, px_a),  # type: ignore[arg-type]
                LegSpec(b.venue, b.sym, side_b, lb, worst_b + sb, px_b)]  # type: ignore[arg-type]
        return self._intent("open", direction, legs, s_exec, mean, z, edge, cost, u, now_ns)

    def _maybe_close(self, u: BookUpdate, z: float, mean: float, now_ns: int) -> Out:
        p, g, pos = self._pair, self.guard, self.pos
        why = ""
        if g.flattening:
            why = "flatten"
        elif (pos.pos_dir < 0 and z <= p.z_exit) or (pos.pos_dir > 0 and z >= -p.z_exit):
            why = "revert"
        elif abs(z) >= self.st.z_stop:
            why = "z_stop"
        elif pos.opened_ns and now_ns - pos.opened_ns >= self._max_hold_ns:
            why = "max_hold"
        elif self._deviated(z, now_ns):
            why = "deviation"
        elif pos.pos_dir == 0:  # uneven leftovers of a failed combo: close them
            why = "leftover"
        if not why:
            return []
        return self._close(u, why, z, mean, now_ns)

    def _close(self, u: BookUpdate, why: str, z: float, mean: float, now_ns: int) -> Out:
        """Close what is held for ``why``: both legs against the position, a leg whose side
        is empty (limit-locked against us: ``limit`` / ``halt``) as an IOC at the locked price
        (``closes.close_leg``)."""
        p, a, b, g, pos = self._pair, self.a, self.b, self.guard, self.pos
        block = g.close_block(now_ns)
        if block:
            return g.refuse(block, now_ns)
        slip = p.max_slippage_ticks * (3 if g.flattening else 1)
        legs, exec_px = close_specs(((a, pos.pos_a_lots), (b, pos.pos_b_lots)), slip)
        if legs is None:
            return g.refuse("LIMIT_UNPRICED", now_ns)
        out: Out = []
        if why in ("z_stop", "max_hold", "deviation"):
            self.stopped = True
            self.stops[why] = self.stops.get(why, 0) + 1
            out.append((self.journal, Decision(self.name, "stop", f"{why} z={z:.3f}", now_ns)))
        elif why in ("limit", "halt"):
            out.append((self.journal, Decision(self.name, "close", why, now_ns)))
        if not legs:
            pos.pos_dir = 0
            return out
        spread = 0.0
        if exec_px[0] > 0 and exec_px[1] > 0:
            spread = math.log(exec_px[0] * a.tick) - float(self.sig.theta[1]) * \
                math.log(exec_px[1] * b.tick) - float(self.sig.theta[0])
        direction = pos.pos_dir or (1 if pos.pos_a_lots > 0 else -1)
        return out + self._intent("close", direction, legs, spread, mean, z, 0.0, 0.0, u, now_ns)

    def _deviated(self, z: float, now_ns: int) -> bool:
        """The documents' monitoring rule: the spread has stayed ``deviation_close_sigma``
        or more against the position (short: z above it; long: below minus it) for
        ``deviation_close_s``. Off when either is 0."""
        p = self._pair
        k = p.deviation_close_sigma
        if not (k > 0 and p.deviation_close_s > 0):
            return False
        if z * -self.pos.pos_dir < k:
            self._deviated_since = 0
            return False
        if not self._deviated_since:
            self._deviated_since = now_ns
        return now_ns - self._deviated_since >= round(p.deviation_close_s * 1e9)

    def _intent(self, action: str, direction: int, legs: list[LegSpec], spread: float,
                mean: float, z: float, edge: float, cost: float, u: BookUpdate,
                now_ns: int) -> Out:
        cid = self.pos.next_id()
        self.intents += 1
        self._deviated_since = 0  # a new position (or none) starts its own clock
        self.guard.last_refusal = ""  # the next refusal is journaled whatever it is
        intent = ComboIntent(cid, self._pair.name, action, direction, legs,  # type: ignore[arg-type]
                             spread, mean, z, edge, cost, self.residual_base,
                             u.ts_event_ns, u.ts_recv_ns, u.ts_book_ns, now_ns)
        return [(self.combo, intent)]

    # --- state --------------------------------------------------------------------------------

    @property
    def last(self) -> dict[str, float]:
        if self._last is None:
            return {}
        s, mean, std, z = self._last
        return {"spread": s, "mean": mean, "std": std, "z": z}

    def snapshot(self) -> dict[str, Any]:
        """Position, pending combo, the signal's state, refusals and stops."""
        p = self._pair
        return {"pair": p.name, "kind": "stat", **self.pos.snapshot(), **self.guard.snapshot(),
                "intents": self.intents, "lots": list(self.lots),
                "residual_base": abs(self.residual_base), "last": self.last,
                "stat": self.sig.snapshot(), "stopped": self.stopped, "stops": dict(self.stops),
                "params": {f: _pair_value(p, f) for f in live_pair_fields(p)},
                "feeds": {x.key: [x.feed, x.offset_ns] for x in (self.a, self.b)}}


__all__ = ["StatPairCore"]

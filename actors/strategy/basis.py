"""Cash-and-carry (期现) strategy: a future (leg A, with an ``expiry``) against its spot or ETF
(leg B), priced by the carry (``docs/strategies.md``, "basis").

Fair future ``F* = S x (1 + r x days / 365) - D``: ``S`` leg B's executable price for the clip
in A's units (B's tick x FX x ``unit_factor``), ``r`` the pair's ``basis.rate`` or the mid of the
``basis.rate_from`` contract's book (an annual fraction), ``days`` calendar days from now to
leg A's expiry (``kernels.carry.expiry_ns``), ``D`` ``basis.dividends`` in A's points.

Per tick (``kernels.carry.carry_eval``, one Numba call), in basis points of the spot:

- positive carry, the future rich (sell A, buy B; direction -1): ``bid_A - F*(ask_B)``;
- reverse carry, the future cheap (buy A, sell B; direction +1, only with ``basis.reverse``):
  ``F*(bid_B) - ask_A``;
- the cost estimate: round-trip fees of both legs for the clip, the expected impact (each
  leg's rolling mean bid-ask spread over ``impact_window`` updates, half in and half out) and
  financing ``financing_bps_per_day x expected_hold_days``.

A position opens when its edge is at least ``cost_multiple`` (1.2) x the cost. It closes
(``exit``): ``bound`` once the mid basis is back inside the cost bound (|dev| <= cost on the
position's side), ``converge`` once it is back at fair (dev through 0); either way ``ROLL`` when
the last ``no_entry_days`` trading days before expiry begin (no entry in them either; a
``no_entry_days`` of 0 holds to ``EXPIRY``), and ``FLATTEN`` on command. The monitoring closes
(``actors.strategy.closes``): ``deviation`` when the mid basis deviation has widened against the
position more than ``deviation_close_sigma`` sigmas (of its rolling deviation, sampled while flat)
beyond where it opened, for ``deviation_close_s``; ``limit`` / ``halt`` (``close_on_limit``) when
leg A or B is limit-locked or halted, a close leg whose side is empty going as an IOC at the
locked price. Each close journals a ``Decision("close", reason)``.

Refusals (journaled when the reason changes, counted always): a leg's own (``INVALID_A``,
``STALE``, ``CLOSED_B``, ``EMPTY_A``, ...), ``STALE_QUOTE`` (the legs' quotes are further apart
than ``max_quote_skew_ms`` and the older is beyond ``max_quote_age_ms``; within it the legs are
only out of step: the core waits for the other leg's update, counting ``SKEW`` without a
journal record), ``NO_RATE`` (the rate book is not usable),
``WARMUP`` (fewer spread samples than the impact needs), ``DEPTH_A``/``DEPTH_B`` (the clip does
not fill), the guard's (``HALTED``, ``REDUCING``, ``VENUE_<STATE>``, ``COOLDOWN``,
``STALE_QUOTE``, ``CLOCK_JUMP``, ``CLOSED``), ``EXPIRED``, ``NO_ENTRY_DAYS``,
``REVERSE_OFF`` (reverse carry pays but is not enabled) and ``EDGE_BELOW_COST``.
"""

from __future__ import annotations

from typing import Any

from actors.core import Out
from actors.strategy.base import PairStrategyCore
from actors.strategy.basis_inputs import (
    RollingSpread,
    RollingStd,
    TradingDaysLeft,
    days_to_expiry,
)
from actors.strategy.closes import DeviationClock, close_specs, limit_state
from actors.strategy.guard import PairGuard, PairPosition
from actors.strategy.legs import Leg, walk_levels
from actors.topology import DEFAULT, Topology
from kernels.carry import carry_eval
from kernels.lots import best_lot_pair
from transports.calendar import Calendar
from transports.config.engine import (
    ContractConfig,
    PairConfig,
    live_pair_fields,
    pair_value,
)
from transports.config.strategies import BasisConfig
from transports.errors import ConfigError
from transports.wire.messages import (
    BookUpdate,
    ComboIntent,
    ComboState,
    Decision,
    LegSpec,
)

#: spread samples each leg needs before the impact estimate is trusted (or the window, if less)
MIN_SPREAD_SAMPLES = 20


class BasisCore(PairStrategyCore):
    """Pure cash-and-carry logic for one pair (leg A the future, leg B the spot/ETF)."""

    def __init__(self, name: str, pair: PairConfig, contracts: dict[str, ContractConfig],
                 combo: str = "combo", epoch: int = 1, pair_index: int = 0, *,
                 calendars: dict[str, Calendar] | None = None,
                 topo: Topology = DEFAULT) -> None:
        super().__init__(name)
        if pair.basis is None:
            raise ConfigError(f"pairs.{pair.name}.basis: a basis pair needs its [basis] section")
        ca, cb = contracts[pair.leg_a], contracts[pair.leg_b]
        if not ca.expiry:
            raise ConfigError(f"pairs.{pair.name}.leg_a: {pair.leg_a} has no expiry; a basis "
                              "pair's leg A is the future")
        cals = calendars or {}
        self.journal = topo.journal
        self.combo = combo
        self.a = Leg(ca, "A", cals.get(ca.venue))
        self.b = Leg(cb, "B", cals.get(cb.venue))
        self.fx = Leg(contracts[pair.fx], "FX", cals.get(contracts[pair.fx].venue)) \
            if pair.fx else None
        self.rate_leg: Leg | None = None
        if pair.basis.rate_from:
            rc = contracts[pair.basis.rate_from]
            self.rate_leg = Leg(rc, "RATE", cals.get(rc.venue))
        self.guard = PairGuard(name, topo.journal, (ca.venue, cb.venue))
        self.pos = PairPosition(pair.name, epoch, pair_index)
        la, lb, resid = best_lot_pair(ca.base_per_lot, cb.base_per_lot, pair.max_clip_lots_a,
                                      pair.max_clip_lots_b)
        self.lots_a, self.lots_b, self.residual_base = int(la), int(lb), float(resid)
        self.days_left = TradingDaysLeft(ca.expiry, self.a.cal)
        self._legs = {(x.venue, x.sym): x for x in (self.a, self.b, self.fx, self.rate_leg)
                      if x is not None}
        self._feeds = tuple(self._legs.values())
        self.session_legs = self._legs
        self.feed_legs = self._feeds
        self._fx = 1.0
        self._rate_book = 0.0
        self.intents = 0
        self.closes: dict[str, int] = {}
        self._last: tuple[float, ...] | None = None
        self._entry_dev = 0.0  #: the mid basis deviation (bps) the position opened at
        self.dev_clock = DeviationClock()  #: the deviation monitor (``deviation_close_*``)
        self._configure(pair)

    @property
    def pair(self) -> PairConfig:
        """The pair's config (changed by a ``SetParams``)."""
        return self._pair

    def _configure(self, pair: PairConfig) -> None:
        """Take ``pair``; rebuild what is cached from it (construction and ``SetParams``)."""
        old = getattr(self, "_pair", None)
        self._pair = pair
        bc = pair.basis
        assert bc is not None
        self._bc: BasisConfig = bc
        self._skew_ns = pair.max_quote_skew_ms * 1_000_000
        self._max_age_ns = pair.max_quote_age_ms * 1_000_000
        self._budget_ns = pair.hedge_budget_ms * 1_000_000
        self._cooldown_ns = pair.retry_cooldown_ms * 1_000_000
        for leg in (self.a, self.b):  # calendar verdicts depend on the budget
            leg.cal_lo, leg.cal_hi = 0, -1
        if old is None:
            self.spreads = {x.key: RollingSpread(bc.impact_window) for x in (self.a, self.b)}
            self.dev_std = RollingStd(bc.impact_window)  #: sigma of the mid basis deviation
        elif old.basis is not None and old.basis.impact_window != bc.impact_window:
            self.spreads = {k: s.resized(bc.impact_window) for k, s in self.spreads.items()}
            self.dev_std = self.dev_std.resized(bc.impact_window)
        self._dev_k = pair.deviation_close_sigma
        self._dev_ns = round(pair.deviation_close_s * 1e9) if self._dev_k > 0 else 0
        self._warm_after = min(MIN_SPREAD_SAMPLES, bc.impact_window)

    # --- values -----------------------------------------------------------------------------------

    def rate(self) -> float | None:
        """The financing rate now: ``basis.rate`` or the rate book's mid (None: unusable)."""
        if self.rate_leg is None:
            return self._bc.rate
        return self._rate_book if self.rate_leg.ok else None

    @property
    def last(self) -> dict[str, float]:
        """The last evaluation: edges, mid basis deviation and cost (bps), fair, rate, days."""
        if self._last is None:
            return {}
        keys = ("rich_bps", "cheap_bps", "dev_bps", "cost_bps", "need_bps", "fair", "rate",
                "days")
        return dict(zip(keys, self._last, strict=True))

    # --- combo states and the live-change check (control inputs: actors.strategy.base) --

    def on_combo_state(self, s: ComboState, now_ns: int) -> Out:
        if s.pair == self._pair.name:
            self.pos.apply(s, self.guard, now_ns, self._cooldown_ns)
        return []

    # --- the market -------------------------------------------------------------------------------

    def check_live(self, new: PairConfig) -> None:
        """The rate feed is subscribed at start (``kinds.pair_keys``): not live."""
        assert new.basis is not None
        if new.basis.rate_from != self._bc.rate_from:
            raise ConfigError(f"pairs.{new.name}.basis.rate_from: the rate feed is subscribed "
                              "at start; change it in the config and restart")

    def on_book_update(self, u: BookUpdate, now_ns: int) -> Out:
        leg = self._legs.get((u.venue, u.sym))
        if leg is None:
            return []
        leg.take(u)
        if leg is self.fx or leg is self.rate_leg:
            if leg.ok:
                mid = (leg.bid_px[0] + leg.ask_px[0]) * 0.5 * leg.tick
                if leg is self.rate_leg:
                    self._rate_book = mid
                else:
                    self._fx = (1.0 / mid if mid else float("inf")) if self._pair.fx_invert \
                        else mid
            return []  # a rate alone never triggers a decision
        if leg.ok:
            self.spreads[leg.key].push(float(leg.ask_px[0] - leg.bid_px[0]))
        return self._evaluate(u, now_ns)

    def _evaluate(self, u: BookUpdate, now_ns: int) -> Out:
        a, b, g = self.a, self.b, self.guard
        for leg in self._feeds:
            if not leg.ok:
                if self._pair.close_on_limit and not self.pos.flat and self.pos.pending is None:
                    # leg A or B limit-locked (one side empty) or halted: close what is held
                    why = limit_state((a, b))
                    if why:
                        return self._limit_close(u, why, now_ns)
                return g.refuse(leg.refusal(), now_ns)
        ta, tb = a.ts_event_ns - a.offset_ns, b.ts_event_ns - b.offset_ns  # our time
        if abs(ta - tb) > self._skew_ns:
            if now_ns - min(ta, tb) > self._max_age_ns:
                return g.refuse("STALE_QUOTE", now_ns)
            # the legs are out of step (one book moved, the other's update is on its way):
            # wait for it, counted but not journaled (it is not a decision)
            g.refusals["SKEW"] = g.refusals.get("SKEW", 0) + 1
            return []
        rate = self.rate()
        if rate is None:
            return g.refuse("NO_RATE", now_ns)
        sa, sb = self.spreads[a.key], self.spreads[b.key]
        if sa.n < self._warm_after or sb.n < self._warm_after:
            return g.refuse("WARMUP", now_ns)
        if self.pos.pending is not None:
            return []
        if not self.pos.flat:  # (a flatten with nothing held is a halt: opens refuse)
            return self._maybe_close(u, rate, now_ns)
        return self._maybe_open(u, rate, now_ns)

    def _s_unit(self) -> float:
        """One tick of B in A's price units (B's tick x FX x unit_factor)."""
        return self.b.tick * self._fx * self._pair.unit_factor

    def _price(self, la: int, lb: int, rate: float, days: float
               ) -> tuple[tuple[float, ...], tuple[tuple[float, int, int], ...]]:
        """Walk the clip on every side and price it: (``carry_eval``'s four values, need, fair),
        and the four walks (A bid, A ask, B bid, B ask)."""
        a, b, bc = self.a, self.b, self._bc
        wa_b = walk_levels(a.bid_px, a.bid_qty, la)
        wa_a = walk_levels(a.ask_px, a.ask_qty, la)
        wb_b = walk_levels(b.bid_px, b.bid_qty, lb)
        wb_a = walk_levels(b.ask_px, b.ask_qty, lb)
        su = self._s_unit()
        ca, cb = a.cfg, b.cfg
        fee_pts = (la * ca.fee_per_lot + lb * cb.fee_per_lot * self._fx) / (la * ca.multiplier)
        rich, cheap, dev, cost = carry_eval(
            wa_b[0] * a.tick, wa_a[0] * a.tick, wb_b[0] * su, wb_a[0] * su, rate, days,
            bc.dividends, fee_pts, self.spreads[a.key].mean * a.tick,
            self.spreads[b.key].mean * su, bc.financing_bps_per_day, bc.expected_hold_days)
        mid_s = (b.bid_px[0] + b.ask_px[0]) * 0.5 * su
        fair = mid_s * (1.0 + rate * days / 365.0) - bc.dividends
        return (rich, cheap, dev, cost, bc.cost_multiple * cost, fair), (wa_b, wa_a, wb_b, wb_a)

    def _maybe_open(self, u: BookUpdate, rate: float, now_ns: int) -> Out:
        a, b, g, bc = self.a, self.b, self.guard, self._bc
        block = g.open_block(now_ns, (a, b), self._max_age_ns, self._budget_ns)
        if block:
            return g.refuse(block, now_ns)
        days = days_to_expiry(self.days_left.expiry_at_ns, now_ns)
        la, lb = self.lots_a, self.lots_b
        vals, walks = self._price(la, lb, rate, days)
        rich, cheap, dev, cost, need, fair = vals
        # the deviation monitor's sigma learns while flat: a held position's own excursion
        # never widens the bound it is judged by
        self.dev_std.push(dev)
        self._last = (rich, cheap, dev, cost, need, fair, rate, days)
        if days <= 0.0:
            return g.refuse("EXPIRED", now_ns)
        if self.days_left.at(now_ns) <= bc.no_entry_days:
            return g.refuse("NO_ENTRY_DAYS", now_ns)
        wa_b, wa_a, wb_b, wb_a = walks
        if wa_b[1] < la or wa_a[1] < la:
            return g.refuse("DEPTH_A", now_ns)
        if wb_b[1] < lb or wb_a[1] < lb:
            return g.refuse("DEPTH_B", now_ns)
        slip = self._pair.max_slippage_ticks
        if rich >= need and rich >= cheap:  # positive carry: sell the future, buy the spot
            legs = [LegSpec(a.venue, a.sym, "S", la, wa_b[2] - slip, wa_b[0]),
                    LegSpec(b.venue, b.sym, "B", lb, wb_a[2] + slip, wb_a[0])]
            return self._intent("open", -1, legs, dev, fair, rich, cost, u, now_ns)
        if cheap >= need:
            if not bc.reverse:
                return g.refuse("REVERSE_OFF", now_ns)
            legs = [LegSpec(a.venue, a.sym, "B", la, wa_a[2] + slip, wa_a[0]),
                    LegSpec(b.venue, b.sym, "S", lb, wb_b[2] - slip, wb_b[0])]
            return self._intent("open", 1, legs, dev, fair, cheap, cost, u, now_ns)
        return g.refuse("EDGE_BELOW_COST", now_ns)

    def _close_reason(self, dev: float, cost: float, days: float, now_ns: int) -> str:
        """Why the position closes now, or "" (hold)."""
        if self.guard.flattening:
            return "FLATTEN"
        if days <= 0.0:
            return "EXPIRY"
        if self._bc.no_entry_days and self.days_left.at(now_ns) <= self._bc.no_entry_days:
            return "ROLL"
        d = self.pos.pos_dir
        # the position's side of the basis: > 0 while the mispricing it bet on persists
        side = dev if d < 0 else -dev if d > 0 else 0.0
        if self._dev_ns and d:
            # the monitor: the basis has widened beyond k sigma (of its rolling deviation) past
            # where the position opened, against it, for deviation_close_s
            sd = self.dev_std
            bound = self._dev_k * sd.std if sd.n >= self._warm_after else float("nan")
            entry_side = self._entry_dev if d < 0 else -self._entry_dev
            if self.dev_clock.beyond(side - entry_side, bound, now_ns, self._dev_ns):
                return "deviation"
        if self._bc.exit == "bound":
            return "BOUND" if side <= cost else ""
        return "CONVERGED" if side <= 0.0 else ""

    def _maybe_close(self, u: BookUpdate, rate: float, now_ns: int) -> Out:
        g = self.guard
        block = g.close_block(now_ns)
        if block:
            return g.refuse(block, now_ns)
        days = days_to_expiry(self.days_left.expiry_at_ns, now_ns)
        vals, _ = self._price(self.lots_a, self.lots_b, rate, days)
        rich, cheap, dev, cost, need, fair = vals
        self._last = (rich, cheap, dev, cost, need, fair, rate, days)
        reason = self._close_reason(dev, cost, days, now_ns)
        if not reason:
            return []
        return self._close(u, reason, dev, fair, cost, now_ns)

    def _limit_close(self, u: BookUpdate, why: str, now_ns: int) -> Out:
        """Close what is held because leg A or B is limit-locked or halted (``limit`` /
        ``halt``), priced with the last evaluation's values."""
        block = self.guard.close_block(now_ns)
        if block:
            return self.guard.refuse(block, now_ns)
        last = self._last
        dev, cost, fair = (last[2], last[3], last[5]) if last is not None else (0.0, 0.0, 0.0)
        return self._close(u, why, dev, fair, cost, now_ns)

    def _close(self, u: BookUpdate, reason: str, dev: float, fair: float, cost: float,
               now_ns: int) -> Out:
        """Both legs against the position (sell what is long, buy what is short), a leg whose
        side is empty as an IOC at its locked price (``closes.close_leg``)."""
        g, pos = self.guard, self.pos
        slip = self._pair.max_slippage_ticks * (3 if g.flattening else 1)
        legs, _ = close_specs(((self.a, pos.pos_a_lots), (self.b, pos.pos_b_lots)), slip)
        if legs is None:
            return g.refuse("LIMIT_UNPRICED", now_ns)
        if not legs:
            pos.pos_dir = 0
            return []
        self.closes[reason] = self.closes.get(reason, 0) + 1
        out: Out = [(self.journal, Decision(self.name, "close", reason, now_ns))]
        return out + self._intent("close", pos.pos_dir, legs, dev, fair, 0.0, cost, u, now_ns)

    def _intent(self, action: str, direction: int, legs: list[LegSpec], dev_bps: float,
                fair: float, edge_bps: float, cost_bps: float, u: BookUpdate,
                now_ns: int) -> Out:
        """A ``ComboIntent``: ``spread`` the mid basis against fair (bps), ``mean`` the fair
        future, ``edge`` and ``cost`` in bps of the spot."""
        cid = self.pos.next_id()
        self.intents += 1
        self.dev_clock.reset()  # a new position (or none) starts its own clock
        if action == "open":
            self._entry_dev = dev_bps
        self.guard.last_refusal = ""  # the next refusal is journaled whatever it is
        intent = ComboIntent(cid, self._pair.name, action, direction,  # type: ignore[arg-type]
                             legs, dev_bps, fair, 0.0, edge_bps, cost_bps, self.residual_base,
                             u.ts_event_ns, u.ts_recv_ns, u.ts_book_ns, now_ns)
        return [(self.combo, intent)]

    def snapshot(self) -> dict[str, Any]:
        """Position, pending combo, last evaluation, refusals and closes, parameters."""
        out = {"pair": self._pair.name, "kind": "basis", "intents": self.intents,
               "lots": [self.lots_a, self.lots_b], "residual_base": self.residual_base,
               "last": self.last, "closes": dict(self.closes),
               "spread_ticks": {k: s.mean for k, s in self.spreads.items()},
               "params": {f: pair_value(self._pair, f) for f in live_pair_fields(self._pair)},
               "feeds": {x.key: [x.feed, x.offset_ns] for x in self._feeds}}
        out.update(self.guard.snapshot())
        out.update(self.pos.snapshot())
        return out


__all__ = ["MIN_SPREAD_SAMPLES", "BasisCore"]

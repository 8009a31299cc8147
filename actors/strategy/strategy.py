"""Strategy actor: prices one cross-market pair and decides when to open and close it.

In: ``BookUpdate`` for leg A, leg B and the FX rate; ``SessionStatus``; ``FeedHealth`` (feed
state and venue clock offset); ``TradingState`` from the RiskSupervisor; ``ComboState`` from the
ComboExecutor; ``Halt``, ``Resume``, ``Flatten`` (operator or risk) and ``SetParams`` (a live
change of the pair's ``LIVE_PAIR_FIELDS``). Out: ``ComboIntent`` to the ComboExecutor;
``Decision`` records to the journal (a refusal when its reason changes, parameter changes applied
or refused).

Gates, in order (the first that fails names the refusal, counted in ``refusals`` every time and
journaled when the reason changes): per leg ``INVALID_<leg>``, the feed's state when not SYNCED
(``STALE``, ``RESYNCING``, ...), ``CLOSED_<leg>`` (gateway session), ``EMPTY_<leg>``; ``SKEW``
(the legs' quote times, in our time ``ts_event_ns - clock_offset_ns``, further apart than
``max_quote_skew_ms``); ``WARMUP``. Closes are refused only when ``HALTED`` (by the risk state;
a flatten command still closes); closes also wait out ``VENUE_<STATE>``, and after two in a row
came to nothing, ``COOLDOWN`` (``retry_cooldown_ms``, not doubled: what they close is exposure).
Opens are also refused when ``HALTED`` (control or risk state),
``REDUCING``, ``VENUE_<STATE>`` (a leg's executor would deny the order: an order outcome
there is unknown, its order entry is disconnected or reconciling — ``VenueGate``),
``COOLDOWN`` (after a failed combo, or one repaired back to nothing: ``retry_cooldown_ms``,
doubling per consecutive one up to 30 s, reset by a combo that left a holding), ``STALE_QUOTE``
(a leg's quote older than ``max_quote_age_ms`` in our time), ``CLOCK_JUMP`` (the node was frozen:
``ClockJump``; until every leg has a quote made after the node noticed) and ``CLOSED``
(a leg's trading calendar is not open or does not stay open for ``hedge_budget_ms``; a gateway
``SessionStatus`` overrides the calendar's state, the budget still comes from the calendar when
it says open).

Pricing (all in leg A's price unit, e.g. CNY per gram):
``parity = P_b × FX × unit_factor × (1 + import_tax) + premium``. For the clip (the integer lot
pair that best matches quantities), ``sell_spread = VWAP_bid(A) − parity(VWAP_ask(B))`` is what
selling A and buying B locks in, ``buy_spread = VWAP_ask(A) − parity(VWAP_bid(B))`` what buying A
and selling B pays. The fair level is a fixed ``fair_basis`` or the rolling mean of the mid
spread (winsorised at ``z_entry`` so dislocations do not drag it); the z-score of the mid spread
comes from the Numba kernel. A position opens when the executable deviation from the mean beats
``cost × safety_factor + min_edge`` (cost = fees and expected slippage of the round trip) and the
pair's trigger agrees (``trigger``: ``zscore`` |z| beyond ``z_entry``; ``edge`` no statistical
gate, or |z| >= ``z_filter`` when set; ``ratio`` the price over parity beyond
``ratio_entry_bps`` of the fair ratio; ``actors.strategy.parity_triggers``). Conditions:
``min_touch_lots`` at both touches (``THIN_TOUCH``). A position closes by its exit rule
(``revert`` / ``take_profit``), a ``time_stop_s``, a ``stop_loss``, the deviation monitor
(beyond ``deviation_close_sigma`` sigmas against it for ``deviation_close_s``) or, with
``close_on_limit``, a leg that is limit-locked or halted; each close journals a ``Decision``
("close", its reason; ``actors.strategy.parity_rules``). Gates and position are the shared
``PairGuard`` / ``PairPosition`` (``actors.strategy.guard``). docs/strategies.md has the formulas.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from actors.core import Out, restore_attrs
from actors.strategy import parity_rules as rules
from actors.strategy.base import PairStrategyCore
from actors.strategy.closes import limit_state
from actors.strategy.guard import MAX_COOLDOWN_NS, PairGuard, PairPosition
from actors.strategy.legs import Leg, walk_levels
from actors.strategy.parity_triggers import open_edge, open_ratio, open_zscore, ratio_mid
from actors.topology import DEFAULT, Topology
from kernels import pair_direct
from kernels.lots import best_lot_pair
from kernels.pricing import ratio_push
from kernels.stats import zscore_init
from transports.calendar import Calendar
from transports.config.engine import LIVE_PAIR_FIELDS, ContractConfig, PairConfig
from transports.wire.messages import (
    BookUpdate,
    ComboIntent,
    ComboState,
    LegSpec,
)

#: Samples the rolling window needs before the strategy trades.
MIN_WARM_SAMPLES = 200
#: the triggers, as small ints the hot path compares
TRIG_ZSCORE, TRIG_EDGE, TRIG_RATIO = 0, 1, 2
_TRIGGERS = {"zscore": TRIG_ZSCORE, "edge": TRIG_EDGE, "ratio": TRIG_RATIO}


def _view(part: str, attr: str) -> Any:
    """A read-only property showing ``self.<part>.<attr>``."""
    return property(lambda self: getattr(getattr(self, part), attr),
                    doc=f"``{part}.{attr}`` (read-only)")


class StrategyCore(PairStrategyCore):
    """Pure pricing and signal logic for one pair.

    The pair's thresholds and the FX-derived cost are worked out at construction, on FX book
    updates and on a ``SetParams`` (``_configure``), not per tick. ``calendars`` maps a venue
    to its trading calendar (venues without one are not checked); ``topo`` names the journal.
    The gates and the position are a ``PairGuard`` (``guard``) and a ``PairPosition``
    (``posn``); the triggers are ``actors.strategy.parity_triggers``, the full open gate, the
    exit rules and the monitoring ``actors.strategy.parity_rules``.
    """

    def __init__(self, name: str, pair: PairConfig, leg_a: ContractConfig, leg_b: ContractConfig,
                 fx: ContractConfig | None, combo: str = "combo", epoch: int = 1,
                 pair_index: int = 0, *,
                 calendars: dict[str, Calendar] | None = None,
                 topo: Topology = DEFAULT) -> None:
        super().__init__(name)
        self._pair = pair
        self.journal = topo.journal
        cals = calendars or {}
        self.a = Leg(leg_a, "A", cals.get(leg_a.venue))
        self.b = Leg(leg_b, "B", cals.get(leg_b.venue))
        self.fx = Leg(fx, "FX", cals.get(fx.venue)) if fx is not None else None
        self.combo = combo
        la, lb, resid = best_lot_pair(leg_a.base_per_lot, leg_b.base_per_lot,
                                      pair.max_clip_lots_a, pair.max_clip_lots_b)
        self.lots_a, self.lots_b, self.residual_base = int(la), int(lb), float(resid)
        self.zbuf = np.zeros(pair.z_window, np.float64)
        self.zstate = np.zeros(4, np.float64)
        zscore_init(self.zbuf, self.zstate)
        self.samples = 0
        # the ratio trigger's window of the mid ratio A / parity(B) (fed in ratio mode only)
        self.rbuf = np.zeros(pair.z_window, np.float64)
        self.rstate = np.zeros(4, np.float64)
        zscore_init(self.rbuf, self.rstate)
        self.rsamples = 0
        self.guard = PairGuard(name, topo.journal, (self.a.venue, self.b.venue))
        self.posn = PairPosition(pair.name, epoch, pair_index)
        # combo ids embed the epoch and the pair (``PairPosition``). The core keeps the sequence
        # as its own integer: a rebuild moves a core's own epoch-derived integers to the new
        # epoch (``actors.runtime.rebuild.rebuild.re_epoch``), not those of the helpers it holds
        self.combo_seq = self.posn.combo_seq
        self.intents = 0
        self._last: tuple[float, float, float, float, float] | None = None
        #: the ratio trigger's last (mid ratio deviation in bps, fair ratio); (0, 0) otherwise
        self.rlast = (0.0, 0.0)
        #: the open the position came from: (mid spread, its deviation from fair, decision ns)
        self.entry = (0.0, 0.0, 0)
        self.dev_since_ns = 0  #: the deviation monitor: beyond k sigma against us since (0: not)
        self.closes: dict[str, int] = {}  #: closes sent, per reason
        fee_units = leg_a.multiplier * self.lots_a
        self._fee_a_per_unit = self.lots_a * leg_a.fee_per_lot / fee_units
        self._fee_b_per_unit = self.lots_b * leg_b.fee_per_lot / fee_units  # times FX later
        self._legs = {self.a.key: self.a, self.b.key: self.b}
        if self.fx is not None:
            self._legs[self.fx.key] = self.fx
        self._by_venue_sym = {(x.venue, x.sym): x for x in self._legs.values()}
        self._derive()
        self._gates = (self.a, self.b) if self.fx is None else (self.a, self.b, self.fx)
        self.session_legs = self._by_venue_sym
        self.feed_legs = self._gates
        self._ab = (self.a, self.b)  #: the legs a limit-lock or halt closes on
        self._cal_legs = tuple(x for x in self._gates if x.cal is not None)
        self._warm_after = min(MIN_WARM_SAMPLES, pair.z_window)
        # FX-derived values, worked out when the FX book changes (not per tick): the rate, the
        # round-trip cost at that rate and the edge it takes to open
        self._fx = 1.0
        self._cost_fx = self._need_fx = 0.0
        self._configure(pair)

    def _derive(self) -> None:
        """The hot path's lookups, derived from the legs and lots (``__init__``, a load)."""
        syms = [x.sym for x in self._legs.values()]
        #: sym -> its leg, for a sym only one leg trades (the update's venue is still checked)
        self._by_sym = {x.sym: x for x in self._legs.values() if syms.count(x.sym) == 1}
        self._lots_a_f, self._lots_b_f = float(self.lots_a), float(self.lots_b)  # the clip walk

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A checkpoint's core (pickled; by older code too): ``_derive``'s lookups rebuilt."""
        restore_attrs(self, state)  # attribute by attribute: reads stay fast
        self._derive()

    # the shared guard's and position's state, read-only under the names the core always had
    pending = _view("posn", "pending")
    pos_dir = _view("posn", "pos_dir")
    pos_a_lots = _view("posn", "pos_a_lots")
    pos_b_lots = _view("posn", "pos_b_lots")
    holdings = _view("posn", "holdings")
    halted = _view("guard", "halted")
    flattening = _view("guard", "flattening")
    trading = _view("guard", "trading")
    venue_gates = _view("guard", "venue_gates")
    fail_streak = _view("guard", "fail_streak")
    cooldown_until_ns = _view("guard", "cooldown_until_ns")
    fresh_after_ns = _view("guard", "fresh_after_ns")
    refusals = _view("guard", "refusals")

    @property
    def pair(self) -> PairConfig:
        """The pair's config (changed only by a ``SetParams``, which rebuilds what it caches)."""
        return self._pair

    def _configure(self, pair: PairConfig) -> None:
        """Take ``pair`` and rebuild every value cached from it (construction and ``set``)."""
        self._pair = pair
        # per-pair constants of the hot path (same values the expressions below used to build)
        self._skew_ns = pair.max_quote_skew_ms * 1_000_000
        self._max_age_ns = pair.max_quote_age_ms * 1_000_000
        self._z_entry = float(pair.z_entry)
        self._tax_k = 1.0 + pair.import_tax
        self._cooldown_ns = pair.retry_cooldown_ms * 1_000_000
        self._budget_ns = pair.hedge_budget_ms * 1_000_000
        self._trig = _TRIGGERS[pair.trigger]
        self._min_touch = pair.min_touch_lots
        self._ratio_clip = float(pair.ratio_entry_bps)
        self._limit_close = pair.close_on_limit
        self._dev_k = pair.deviation_close_sigma if pair.deviation_close_s > 0 else 0.0
        self._dev_ns = int(pair.deviation_close_s * 1e9)
        self._time_stop_ns = int(pair.time_stop_s * 1e9)
        for leg in self._cal_legs:  # the calendar verdicts depend on the budget
            leg.cal_lo, leg.cal_hi = 0, -1
        self._set_fx(self._fx)

    def _set_fx(self, fx: float) -> None:
        self._fx = fx
        self._cost_fx = self._cost(fx)
        self._need_fx = self._cost_fx * self._pair.safety_factor + self._pair.min_edge

    # --- helpers ---------------------------------------------------------------------------------

    @property
    def last(self) -> dict[str, float]:
        """The last evaluation's signal values (mid spread, fair mean, std, z, FX)."""
        if self._last is None:
            return {}
        ms, mean, std, z, fx = self._last
        return {"mid_spread": ms, "mean": mean, "std": std, "z": z, "fx": fx}

    def _parity(self, p_b_ticks: float, fx: float) -> float:
        """Leg B's price restated in A's terms, inline (a Numba call per price would cost more;
        the tests check it against the oracle ``tests.support.oracles.parity``, same order)."""
        p = self._pair
        return p_b_ticks * self.b.tick * fx * p.unit_factor * self._tax_k + p.premium

    # --- handlers --------------------------------------------------------------------------------

    def on_combo_state(self, s: ComboState, now_ns: int) -> Out:
        if s.pair != self._pair.name:
            return []
        # Holdings are kept per combo and summed (``PairPosition``), so a late fill that
        # re-opens an old combo still reaches the position; a combo that came to nothing backs
        # the guard off (doubling per consecutive one)
        self.posn.apply(s, self.guard, now_ns, self._cooldown_ns)
        return []

    def on_book_update(self, u: BookUpdate, now_ns: int) -> Out:
        leg = self._by_sym.get(u.sym)
        if leg is None or leg.venue != u.venue:  # a sym two venues trade, or not ours
            leg = self._by_venue_sym.get((u.venue, u.sym))
            if leg is None:
                return []
        # the leg takes the update's own lists (nobody mutates them); an invalid update keeps
        # the last levels but makes the leg unusable (``Leg.take``, inline)
        if u.valid:
            leg.valid = True
            leg.ts_event_ns = u.ts_event_ns
            leg.bid_px = u.bid_px
            leg.bid_qty = u.bid_qty
            leg.ask_px = u.ask_px
            leg.ask_qty = u.ask_qty
            leg.bid_n = nb = len(u.bid_px)
            leg.ask_n = na = len(u.ask_px)
            leg.ok = leg.up and nb > 0 and na > 0
        else:
            leg.valid = leg.ok = False
        if leg is self.fx:
            if leg.valid and leg.bid_n > 0 and leg.ask_n > 0:
                # the rate every later evaluation prices with (the mid, or its inverse: 1/0 is
                # inf, as numpy's float64 division did) and ``_set_fx``'s values, inline
                p = self._pair
                fx = (leg.bid_px[0] + leg.ask_px[0]) * 0.5 * leg.tick
                if p.fx_invert:
                    fx = 1.0 / fx if fx else float("inf")
                self._fx = fx
                fees = self._fee_a_per_unit + self._fee_b_per_unit * fx
                slip = p.slippage_ticks * (self.a.tick + self.b.tick * fx * p.unit_factor)
                self._cost_fx = cost = 2.0 * (fees + slip)  # ``_cost(fx)``
                self._need_fx = cost * p.safety_factor + p.min_edge
            return []  # the rate alone never triggers a decision
        # --- evaluate ---
        a, b, p = self.a, self.b, self._pair
        f, posn = self.fx, self.posn
        if not (a.ok and b.ok and (f is None or f.ok)):
            if self._limit_close and posn.pos_dir != 0 and posn.pending is None:
                # a leg limit-locked (one side empty) or halted: close what is held
                why = limit_state(self._ab)
                if why:
                    return rules.close_on_limit(self, u, why, now_ns)
            for leg in self._gates:  # A, B, FX: the first leg that is not usable refuses
                if not leg.ok:
                    return self.guard.refuse(leg.refusal(), now_ns)
        # quote times in our time (venue time minus the venue's clock offset)
        t_a = a.ts_event_ns - a.offset_ns
        t_b = b.ts_event_ns - b.offset_ns
        skew_ns = self._skew_ns
        if not -skew_ns <= t_a - t_b <= skew_ns:  # abs(t_a - t_b) > skew_ns, ints
            return self.guard.refuse("SKEW", now_ns)
        fx = self._fx  # set from the FX book's current levels (1.0 without an FX leg)
        mid_a = (a.bid_px[0] + a.ask_px[0]) * 0.5 * a.tick
        mid_b = (b.bid_px[0] + b.ask_px[0]) * 0.5
        # the parity of B's mid (``_parity``, inline)
        par_mid = mid_b * b.tick * fx * p.unit_factor * self._tax_k + p.premium
        mid_spread = mid_a - par_mid
        warm = self.samples >= self._warm_after
        # z against the window before this sample, then the sample joins it winsorised at
        # z_entry (a dislocation moves z, not the mean it is measured against): one Numba call
        # (its compiled entry, without Numba's per-call type dispatch: ``kernels.pair_direct``)
        z, mean, std = pair_direct.zscore_push(self.zbuf, self.zstate, mid_spread, self._z_entry,
                                               warm)
        self.samples += 1
        fair = p.fair_basis if p.fair_basis is not None else mean
        self._last = (mid_spread, fair, std, z, fx)
        trig = self._trig
        if trig == 2:  # TRIG_RATIO
            # the mid ratio joins its own window (winsorised at the entry band, one Numba call)
            rwarm = self.rsamples >= self._warm_after
            _ratio, rmean = ratio_push(self.rbuf, self.rstate, mid_a, par_mid, self._ratio_clip,
                                       rwarm)
            self.rsamples += 1
            warm = warm and (rwarm or p.fair_basis is not None)
            ratio_mid(self, mid_a, par_mid, rmean)
        if not warm:
            return self.guard.refuse("WARMUP", now_ns)
        if posn.pending is not None:
            return []
        g = self.guard
        if g.flattening or posn.pos_dir != 0:
            # a close waits for its venues and, after one that went nowhere, backs off like an
            # open: sent into a venue that denies one leg, it only fills the other and unwinds
            # (``close_block`` can only refuse with one of these set)
            if g.venue_gates or g.fail_streak >= 2 or g.trading == "HALTED":
                block = g.close_block(now_ns)
                if block:
                    return g.refuse(block, now_ns)
            reason = rules.exit_reason(self, mid_spread, fair, std, z, now_ns)
            if not reason:
                return []
            return rules.close(self, u, fx, fair, z, reason, now_ns)
        if g.halted or g.trading != "ACTIVE" or g.venue_gates or now_ns < g.cooldown_until_ns \
                or g.fresh_after_ns or self._cal_legs:
            block = rules.open_block(self, now_ns)
            if block:
                return g.refuse(block, now_ns)
        elif now_ns - (t_a if t_a < t_b else t_b) > self._max_age_ns:
            # nothing else can block (``open_block`` with every other gate open)
            return g.refuse("STALE_QUOTE", now_ns)
        if not trig:  # TRIG_ZSCORE
            z_entry = self._z_entry
            if -z_entry < z < z_entry:
                # no side's z condition holds: ``open_zscore`` would refuse NO_EDGE unpriced
                # (most ticks); ``PairGuard.refuse`` inline when NO_EDGE was journaled last
                if g.last_refusal == "NO_EDGE":
                    n = g.refusals
                    n["NO_EDGE"] = n.get("NO_EDGE", 0) + 1
                    return []
                return g.refuse("NO_EDGE", now_ns)
            return open_zscore(self, u, fx, fair, z, mid_spread, now_ns)
        if trig == 1:  # TRIG_EDGE
            return open_edge(self, u, fx, fair, z, mid_spread, now_ns)
        return open_ratio(self, u, fx, z, now_ns)

    def _cost(self, fx: float) -> float:
        p = self._pair
        fees = self._fee_a_per_unit + self._fee_b_per_unit * fx
        slip = p.slippage_ticks * (self.a.tick + self.b.tick * fx * p.unit_factor)
        return 2.0 * (fees + slip)  # open and close

    def _intent(self, action: str, direction: int, legs: list[LegSpec], spread: float,
                mean: float, z: float, edge: float, cost: float, u: BookUpdate,
                now_ns: int) -> Out:
        self.combo_seq = cid = self.combo_seq + 1  # ``PairPosition.next_id`` on the core's own
        self.posn.pending = cid
        self.intents += 1
        self.guard.last_refusal = ""  # the next refusal is journaled whatever it is
        if action == "open":  # what the exit rules measure from
            ms = self._last[0]  # type: ignore[index]
            self.entry = (ms, ms - mean, now_ns)
            self.dev_since_ns = 0
        intent = ComboIntent(cid, self._pair.name, action, direction,  # type: ignore[arg-type]
                             legs, spread, mean, z, edge, cost, self.residual_base,
                             u.ts_event_ns, u.ts_recv_ns, u.ts_book_ns, now_ns)
        return [(self.combo, intent)]

    def snapshot(self) -> dict[str, Any]:
        """Return position, pending combo, last signal values and refusal counters."""
        g, posn = self.guard, self.posn
        return {"pair": self._pair.name, "pos_dir": posn.pos_dir, "pos_a_lots": posn.pos_a_lots,
                "pos_b_lots": posn.pos_b_lots, "pending": posn.pending, "intents": self.intents,
                "lots": [self.lots_a, self.lots_b], "residual_base": self.residual_base,
                "samples": self.samples, "refusals": dict(g.refusals), "last": self.last,
                "halted": g.halted, "flattening": g.flattening, "trading": g.trading,
                "fail_streak": g.fail_streak, "cooldown_until_ns": g.cooldown_until_ns,
                "fresh_after_ns": g.fresh_after_ns, "trigger": self._pair.trigger,
                "closes": dict(self.closes), "opened_ns": posn.opened_ns,
                "ratio": {"dev_bps": self.rlast[0], "fair": self.rlast[1]},
                "params": {f: getattr(self._pair, f) for f in sorted(LIVE_PAIR_FIELDS)},
                "feeds": {x.key: [x.feed, x.offset_ns] for x in self._gates}}


__all__ = ["MAX_COOLDOWN_NS", "MIN_WARM_SAMPLES", "StrategyCore", "walk_levels"]

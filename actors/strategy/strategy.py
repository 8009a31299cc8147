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
z-score agrees; it closes when the z-score reverts inside ``z_exit``.
"""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np

from actors.core import Core, Out
from actors.risk.holdings import combo_holding
from actors.strategy.legs import Leg, walk_levels
from actors.topology import DEFAULT, Topology
from kernels.lots import best_lot_pair
from kernels.stats import zscore_init, zscore_score_push
from transports.calendar import Calendar
from transports.config.engine import LIVE_PAIR_FIELDS, ContractConfig, PairConfig, live_update
from transports.errors import ConfigError
from transports.wire.messages import (
    BookUpdate,
    ClockJump,
    ComboIntent,
    ComboState,
    Decision,
    FeedHealth,
    Flatten,
    Halt,
    LegSpec,
    Resume,
    SessionStatus,
    SetParams,
    TradingState,
    VenueGate,
)

#: Samples the rolling window needs before the strategy trades.
MIN_WARM_SAMPLES = 200
#: The longest cooldown after consecutive failed combos.
MAX_COOLDOWN_NS = 30_000_000_000


class StrategyCore(Core):
    """Pure pricing and signal logic for one pair.

    The pair's thresholds and the FX-derived cost are worked out at construction, on FX book
    updates and on a ``SetParams`` (``_configure``), not per tick. ``calendars`` maps a venue
    to its trading calendar (venues without one are not checked); ``topo`` names the journal.
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
        # combo ids embed the epoch and the pair, so they never repeat across restarts of a run
        # nor collide between pairs: epoch * 1e9 + pair_index * 1e6 + sequence
        self.combo_seq = epoch * 1_000_000_000 + pair_index * 1_000_000
        self.pending: int | None = None
        self.pos_dir = 0  #: +1 long A / short B, -1 short A / long B, 0 flat
        self.pos_a_lots = 0  #: signed lots held on A by this pair (the sum of ``holdings``)
        self.pos_b_lots = 0
        #: combo id -> signed (A lots, B lots) it holds for this pair
        self.holdings: dict[int, tuple[int, int]] = {}
        self.flattening = False
        self.halted = False
        self.trading = "ACTIVE"  #: the RiskSupervisor's TradingState
        #: venue -> its LegExecutor's gate (``VenueGate``; "" = orders may go)
        self.venue_gates: dict[str, str] = {}
        self._leg_venues = (self.a.venue, self.b.venue)
        self.fail_streak = 0  #: consecutive failed combos
        self.cooldown_until_ns = 0  #: no open before this
        self.close_retry_ns = 0  #: after two closes in a row came to nothing, none before this
        #: the node was frozen (``ClockJump``) at this time: no open until every leg's quote,
        #: in our time, is at least this recent (0: no freeze pending)
        self.fresh_after_ns = 0
        self.refusals: dict[str, int] = {}
        self._last_refusal = ""  #: the last refusal journaled (a new one is journaled on change)
        self.intents = 0
        self._last: tuple[float, float, float, float, float] | None = None
        fee_units = leg_a.multiplier * self.lots_a
        self._fee_a_per_unit = self.lots_a * leg_a.fee_per_lot / fee_units
        self._fee_b_per_unit = self.lots_b * leg_b.fee_per_lot / fee_units  # times FX later
        self._legs = {self.a.key: self.a, self.b.key: self.b}
        if self.fx is not None:
            self._legs[self.fx.key] = self.fx
        self._by_venue_sym = {(x.venue, x.sym): x for x in self._legs.values()}
        self._gates = (self.a, self.b) if self.fx is None else (self.a, self.b, self.fx)
        self._cal_legs = tuple(x for x in self._gates if x.cal is not None)
        self._warm_after = min(MIN_WARM_SAMPLES, pair.z_window)
        # FX-derived values, worked out when the FX book changes (not per tick): the rate, the
        # round-trip cost at that rate and the edge it takes to open
        self._fx = 1.0
        self._cost_fx = self._need_fx = 0.0
        self._configure(pair)

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

    def _refuse(self, reason: str, now_ns: int) -> Out:
        self.refusals[reason] = self.refusals.get(reason, 0) + 1
        if reason == self._last_refusal:
            return []
        self._last_refusal = reason
        return [(self.journal, Decision(self.name, "refuse", reason, now_ns))]

    def _venue_block(self) -> str:
        """``VENUE_<STATE>`` when a leg's executor would deny a new order there, else ""."""
        if self.venue_gates:
            for v in self._leg_venues:
                g = self.venue_gates.get(v)
                if g:
                    return "VENUE_" + g.upper()
        return ""

    def _open_block(self, now_ns: int) -> str:
        """Why no combo may open now (besides the legs and the signal), or ""."""
        if self.halted:
            return "HALTED"
        if self.trading != "ACTIVE":
            return self.trading  # REDUCING, HALTED
        gate = self._venue_block()
        if gate:
            return gate
        if now_ns < self.cooldown_until_ns:
            return "COOLDOWN"
        a, b = self.a, self.b
        oldest_ns = min(a.ts_event_ns - a.offset_ns, b.ts_event_ns - b.offset_ns)  # our time
        if now_ns - oldest_ns > self._max_age_ns:
            return "STALE_QUOTE"
        if self.fresh_after_ns:
            # after a freeze the books come back through fresh snapshots: a quote from before
            # the node noticed the freeze, however young it looks, is not the world now
            if min(oldest_ns, *(x.ts_event_ns - x.offset_ns for x in self._gates)) \
                    < self.fresh_after_ns:
                return "CLOCK_JUMP"
            self.fresh_after_ns = 0
        budget = self._budget_ns
        for leg in self._cal_legs:
            st = leg.calendar_state(now_ns, budget)
            # a gateway status (known, and open since the leg is usable) overrides a closed
            # calendar; a calendar that is open but closes within the budget still refuses
            if st != "ok" and not (st == "closed" and leg.session_known):
                return "CLOSED"
        return ""

    def _fx_rate(self) -> float:
        if self.fx is None:
            return 1.0
        f = self.fx
        mid = (f.bid_px[0] + f.ask_px[0]) * 0.5 * f.tick
        if not self._pair.fx_invert:
            return mid
        return 1.0 / mid if mid else float("inf")  # as numpy's float64 division did

    def _parity(self, p_b_ticks: float, fx: float) -> float:
        """Leg B's price restated in A's terms, inline (a Numba call per price would cost more;
        the tests check it against the oracle ``tests.support.oracles.parity``, same order)."""
        p = self._pair
        return p_b_ticks * self.b.tick * fx * p.unit_factor * self._tax_k + p.premium

    # --- handlers --------------------------------------------------------------------------------

    def on_session_status(self, s: SessionStatus, now_ns: int) -> Out:
        leg = self._legs.get(f"{s.venue}:{s.sym}")
        if leg is not None:
            leg.set_session(s.state)
        return []

    def on_feed_health(self, h: FeedHealth, now_ns: int) -> Out:
        """A venue feed's state and clock offset, for every leg on that venue."""
        for leg in self._gates:
            if leg.venue == h.venue:
                leg.set_feed(h.state, h.clock_offset_ns)
        return []

    def on_venue_gate(self, g: VenueGate, now_ns: int) -> Out:
        """A leg executor's gate: no open while it would deny (closes are left to it)."""
        if g.state:
            self.venue_gates[g.venue] = g.state
        else:
            self.venue_gates.pop(g.venue, None)
        return []

    def on_clock_jump(self, m: ClockJump, now_ns: int) -> Out:
        """The node was frozen: open nothing until every leg has a quote made after now."""
        self.fresh_after_ns = now_ns
        return []

    def on_trading_state(self, t: TradingState, now_ns: int) -> Out:
        self.trading = t.state
        return []

    def on_halt(self, m: Halt, now_ns: int) -> Out:
        """Open nothing until resumed (closes go on)."""
        self.halted = True
        return []

    def on_resume(self, m: Resume, now_ns: int) -> Out:
        """Open again; a flatten in progress stops."""
        self.halted = False
        self.flattening = False
        return []

    def on_flatten(self, m: Flatten, now_ns: int) -> Out:
        """Close what the pair holds at once, reverted or not, and open nothing until resumed."""
        self.flattening = True
        self.halted = True
        return []

    def on_set_params(self, m: SetParams, now_ns: int) -> Out:
        """A live change of this pair's parameters: validated as the config file is, applied
        whole or not at all, journaled either way (``set`` / ``set_rejected``)."""
        detail = msgspec.json.encode(m.values).decode()
        try:
            if m.section != f"pairs.{self._pair.name}":
                raise ConfigError(f"{m.section}: not this strategy's pair {self._pair.name!r}")
            new = live_update(self._pair, m.values)
        except ConfigError as exc:
            return [(self.journal, Decision(self.name, "set_rejected", f"{detail}: {exc}",
                                            now_ns))]
        self._configure(new)
        return [(self.journal, Decision(self.name, "set", detail, now_ns))]

    def on_combo_state(self, s: ComboState, now_ns: int) -> Out:
        if s.pair != self._pair.name:
            return []
        # Holdings are kept per combo and summed, so a late fill that re-opens an old combo
        # still reaches the position, whether or not that combo is the pending one. The sums
        # are kept running: the position moves by what this combo's holding changed.
        a, b = combo_holding(s)
        old = self.holdings.get(s.combo_id)
        self.holdings[s.combo_id] = (a, b)
        if old is None:
            self.pos_a_lots += a
            self.pos_b_lots += b
        else:
            self.pos_a_lots += a - old[0]
            self.pos_b_lots += b - old[1]
        if s.combo_id == self.pending and s.state not in ("working", "repairing"):
            self.pending = None
            if s.state == "failed" or (s.state == "repaired" and not s.filled_a_lots
                                       and not s.filled_b_lots):
                # nothing came of it (failed, or a leg unwound to nothing): no retry on the
                # next tick, back off, doubling per consecutive one
                self.fail_streak += 1
                self.close_retry_ns = now_ns + self._cooldown_ns
                if self._cooldown_ns:
                    wait = min(self._cooldown_ns << min(self.fail_streak - 1, 16),
                               max(MAX_COOLDOWN_NS, self._cooldown_ns))
                    self.cooldown_until_ns = now_ns + wait
            else:  # complete, repaired
                self.fail_streak = 0
                self.cooldown_until_ns = 0
            if self.pos_a_lots == 0 and self.pos_b_lots == 0:
                self.pos_dir = 0
                self.holdings.clear()
            elif s.action == "open":
                self.pos_dir = s.direction
        return []

    def on_book_update(self, u: BookUpdate, now_ns: int) -> Out:
        leg = self._by_venue_sym.get((u.venue, u.sym))
        if leg is None:
            return []
        # the leg takes the update's own lists (nobody mutates them); an invalid update keeps
        # the last levels but makes the leg unusable
        leg.valid = u.valid
        if not u.valid:
            leg.ok = False
        else:
            leg.ts_event_ns = u.ts_event_ns
            leg.bid_px = u.bid_px
            leg.bid_qty = u.bid_qty
            leg.ask_px = u.ask_px
            leg.ask_qty = u.ask_qty
            leg.bid_n = nb = len(u.bid_px)
            leg.ask_n = na = len(u.ask_px)
            leg.ok = leg.up and nb > 0 and na > 0
        if leg is self.fx:
            if leg.valid and leg.bid_n > 0 and leg.ask_n > 0:
                self._set_fx(self._fx_rate())  # the rate every later evaluation prices with
            return []  # the rate alone never triggers a decision
        # --- evaluate ---
        a, b, p = self.a, self.b, self._pair
        f = self.fx
        if not (a.ok and b.ok and (f is None or f.ok)):
            for leg in self._gates:  # A, B, FX: the first leg that is not usable refuses
                if not leg.ok:
                    return self._refuse(leg.refusal(), now_ns)
        # quote times in our time (venue time minus the venue's clock offset)
        if abs((a.ts_event_ns - a.offset_ns) - (b.ts_event_ns - b.offset_ns)) > self._skew_ns:
            return self._refuse("SKEW", now_ns)
        fx = self._fx  # set from the FX book's current levels (1.0 without an FX leg)
        mid_a = (a.bid_px[0] + a.ask_px[0]) * 0.5 * a.tick
        mid_b = (b.bid_px[0] + b.ask_px[0]) * 0.5
        # the parity of B's mid (``_parity``, inline)
        mid_spread = mid_a - (mid_b * b.tick * fx * p.unit_factor * self._tax_k + p.premium)
        warm = self.samples >= self._warm_after
        # z against the window before this sample, then the sample joins it winsorised at
        # z_entry (a dislocation moves z, not the mean it is measured against): one Numba call
        z, mean, std = zscore_score_push(self.zbuf, self.zstate, mid_spread, self._z_entry, warm)
        self.samples += 1
        fair = p.fair_basis if p.fair_basis is not None else mean
        self._last = (mid_spread, fair, std, z, fx)
        if not warm:
            return self._refuse("WARMUP", now_ns)
        if self.pending is not None:
            return []
        if self.flattening or self.pos_dir != 0:
            if self.trading == "HALTED" and not self.flattening:
                return self._refuse("HALTED", now_ns)  # executors cancel; flatten by command
            # a close waits for its venues and, after one that went nowhere, backs off like an
            # open: sent into a venue that denies one leg, it only fills the other and unwinds
            gate = self._venue_block()
            if gate:
                return self._refuse(gate, now_ns)
            if self.fail_streak >= 2 and now_ns < self.close_retry_ns:
                return self._refuse("COOLDOWN", now_ns)
            return self._maybe_close(u, fx, fair, z, now_ns)
        block = self._open_block(now_ns)
        if block:
            return self._refuse(block, now_ns)
        return self._maybe_open(u, fx, fair, z, now_ns)

    def _maybe_open(self, u: BookUpdate, fx: float, fair: float, z: float, now_ns: int) -> Out:
        p, a, b = self._pair, self.a, self.b
        la, lb = self.lots_a, self.lots_b
        z_entry = self._z_entry
        # Each side's z condition first: the walks and spreads are pure, so a side whose z
        # condition fails is not priced at all (the decision is the same). A clip that the best
        # level covers is priced inline (``walk_levels``' first step, same arithmetic).
        if z >= z_entry:  # sell A, buy B
            px, qty = a.bid_px, a.bid_qty
            if qty[0] >= la:
                bid_a, fill_a, worst_a = float(la) * float(px[0]) / la, la, px[0]
            else:
                bid_a, fill_a, worst_a = walk_levels(px, qty, la)
            px, qty = b.ask_px, b.ask_qty
            if qty[0] >= lb:
                ask_b, fill_b, worst_b = float(lb) * float(px[0]) / lb, lb, px[0]
            else:
                ask_b, fill_b, worst_b = walk_levels(px, qty, lb)
            sell_spread = bid_a * a.tick - (
                ask_b * b.tick * fx * p.unit_factor * self._tax_k + p.premium)
            if fill_a >= la and fill_b >= lb and sell_spread - fair >= self._need_fx:
                slip = p.max_slippage_ticks
                legs = [LegSpec(a.venue, a.sym, "S", la, worst_a - slip, bid_a),
                        LegSpec(b.venue, b.sym, "B", lb, worst_b + slip, ask_b)]
                return self._intent("open", -1, legs, sell_spread, fair, z, sell_spread - fair,
                                    self._cost_fx, u, now_ns)
        if z <= -z_entry:  # buy A, sell B
            px, qty = a.ask_px, a.ask_qty
            if qty[0] >= la:
                ask_a, fill_a, worst_a = float(la) * float(px[0]) / la, la, px[0]
            else:
                ask_a, fill_a, worst_a = walk_levels(px, qty, la)
            px, qty = b.bid_px, b.bid_qty
            if qty[0] >= lb:
                bid_b, fill_b, worst_b = float(lb) * float(px[0]) / lb, lb, px[0]
            else:
                bid_b, fill_b, worst_b = walk_levels(px, qty, lb)
            buy_spread = ask_a * a.tick - (
                bid_b * b.tick * fx * p.unit_factor * self._tax_k + p.premium)
            if fill_a >= la and fill_b >= lb and fair - buy_spread >= self._need_fx:
                slip = p.max_slippage_ticks
                legs = [LegSpec(a.venue, a.sym, "B", la, worst_a + slip, ask_a),
                        LegSpec(b.venue, b.sym, "S", lb, worst_b - slip, bid_b)]
                return self._intent("open", 1, legs, buy_spread, fair, z, fair - buy_spread,
                                    self._cost_fx, u, now_ns)
        return self._refuse("NO_EDGE", now_ns)

    def _cost(self, fx: float) -> float:
        p = self._pair
        fees = self._fee_a_per_unit + self._fee_b_per_unit * fx
        slip = p.slippage_ticks * (self.a.tick + self.b.tick * fx * p.unit_factor)
        return 2.0 * (fees + slip)  # open and close

    def _maybe_close(self, u: BookUpdate, fx: float, fair: float, z: float, now_ns: int) -> Out:
        p, a, b = self._pair, self.a, self.b
        reverted = (self.pos_dir < 0 and z <= p.z_exit) or (self.pos_dir > 0 and z >= -p.z_exit)
        if not (reverted or self.flattening):
            return []
        la, lb = abs(self.pos_a_lots), abs(self.pos_b_lots)
        slip = p.max_slippage_ticks * (3 if self.flattening else 1)
        legs = []
        # the close trades against the position: sell what is long, buy what is short
        exec_a = walk_levels(a.bid_px, a.bid_qty, la) if self.pos_a_lots > 0 else \
            walk_levels(a.ask_px, a.ask_qty, la)
        exec_b = walk_levels(b.bid_px, b.bid_qty, lb) if self.pos_b_lots > 0 else \
            walk_levels(b.ask_px, b.ask_qty, lb)
        if la:
            side = "S" if self.pos_a_lots > 0 else "B"
            lim = exec_a[2] + (-slip if side == "S" else slip)
            legs.append(LegSpec(a.venue, a.sym, side, la, lim, exec_a[0]))
        if lb:
            side = "S" if self.pos_b_lots > 0 else "B"
            lim = exec_b[2] + (-slip if side == "S" else slip)
            legs.append(LegSpec(b.venue, b.sym, side, lb, lim, exec_b[0]))
        if not legs:
            self.pos_dir = 0
            return []
        spread = exec_a[0] * a.tick - self._parity(exec_b[0], fx) if la and lb else 0.0
        return self._intent("close", self.pos_dir, legs, spread, fair, z, 0.0, self._cost(fx),
                            u, now_ns)

    def _intent(self, action: str, direction: int, legs: list[LegSpec], spread: float,
                mean: float, z: float, edge: float, cost: float, u: BookUpdate,
                now_ns: int) -> Out:
        self.combo_seq += 1
        self.pending = self.combo_seq
        self.intents += 1
        self._last_refusal = ""  # the next refusal is journaled whatever it is
        intent = ComboIntent(self.combo_seq, self._pair.name, action, direction,  # type: ignore[arg-type]
                             legs, spread, mean, z, edge, cost, self.residual_base,
                             u.ts_event_ns, u.ts_recv_ns, u.ts_book_ns, now_ns)
        return [(self.combo, intent)]

    def snapshot(self) -> dict[str, Any]:
        """Return position, pending combo, last signal values and refusal counters."""
        return {"pair": self._pair.name, "pos_dir": self.pos_dir, "pos_a_lots": self.pos_a_lots,
                "pos_b_lots": self.pos_b_lots, "pending": self.pending, "intents": self.intents,
                "lots": [self.lots_a, self.lots_b], "residual_base": self.residual_base,
                "samples": self.samples, "refusals": dict(self.refusals), "last": self.last,
                "halted": self.halted, "flattening": self.flattening, "trading": self.trading,
                "fail_streak": self.fail_streak, "cooldown_until_ns": self.cooldown_until_ns,
                "fresh_after_ns": self.fresh_after_ns,
                "params": {f: getattr(self._pair, f) for f in sorted(LIVE_PAIR_FIELDS)},
                "feeds": {x.key: [x.feed, x.offset_ns] for x in self._gates}}

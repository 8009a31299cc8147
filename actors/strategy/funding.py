"""Funding-rate arbitrage (资金费率): leg A the spot market, leg B its perpetual.

In: ``BookUpdate`` of both legs; ``MarkUpdate`` of the perpetual (protocol v2 ``mark``: mark and
index prices, the funding rate per interval and the next funding time, venue clock);
``SessionStatus``, ``FeedHealth``, ``VenueGate``, ``ClockJump``, ``TradingState``, ``Halt``,
``Resume``, ``Flatten``, ``SetParams`` and ``ComboState`` as every strategy kind
(``actors.strategy.guard``). Out: ``ComboIntent`` to the ComboExecutor, ``Decision`` records to
the journal (every refusal when its reason changes, every close with its reason, parameter
changes).

The rule (``pairs.<name>.funding``, ``transports.config.strategies.FundingConfig``):

- **Observations** are marks. The signed streak counts marks in a row whose rate is beyond
  ``entry_rate`` on one side (+n above ``entry_rate``, -n below ``-entry_rate``, 0 otherwise).
- **Entry** (flat, nothing pending, every gate open): the streak reaches ``consecutive`` and the
  next funding time is at most ``lead_s`` away, in the venue's clock:
  ``0 < ts_next_funding_ns - (now_ns + clock_offset_ns(B)) <= lead_s``. Positive funding: buy
  spot, sell the perpetual (direction +1, the shorts collect); negative funding (``reverse``):
  sell spot, buy the perpetual (direction -1). Also needed: the basis
  ``|P_perp x unit_factor / P_spot - 1|`` (book mids) within ``max_basis_bps``, margin use after
  the entry within ``max_margin_pct``, and the clip's depth at both touches.
- **Exit** (holding): the latest mark's rate flips past ``exit_rate`` against the position
  (``rate < exit_rate`` for +1, ``rate > -exit_rate`` for -1: one mark suffices, the rate is the
  one the next payment uses), the basis beyond ``max_basis_bps``, or margin use beyond
  ``max_margin_pct``; and ``Flatten``.
- **Margin use** = ``|perp lots| x multiplier x mark x margin_rate / margin_capital`` in percent
  (the perpetual's ``ContractConfig.margin_rate``; the mark from the last ``MarkUpdate``, the book
  mid before one came); ``margin_capital = 0`` leaves it unchecked. The spot leg is taken as fully
  funded (a reverse trade's spot borrow is not modelled).
- **Quantities** match in base units: the clip is ``kernels.lots.best_lot_pair`` over the legs'
  ``base_per_lot`` (spot lots of 0.001 BTC against contracts of 0.01 BTC: 10 to 1).

Refusal reasons, in order: a leg's own (``INVALID_A``, feed state, ``CLOSED_B``, ``EMPTY_A``),
``SKEW``, the guard's (``HALTED``, ``REDUCING``, ``VENUE_<STATE>``, ``COOLDOWN``,
``STALE_QUOTE``, ``CLOCK_JUMP``, ``CLOSED``), ``NO_MARK``, ``RATE_BELOW_ENTRY``, ``REVERSE_OFF``,
``STREAK`` (beyond the threshold for fewer than ``consecutive`` marks), ``NO_FUNDING_TIME``,
``BEFORE_LEAD``, ``AFTER_FUNDING``, ``BASIS``, ``MARGIN``, ``DEPTH``. Close reasons:
``FLATTEN``, ``RATE_FLIP``, ``BASIS_BREAK``, ``MARGIN``, and ``limit`` / ``halt``
(``close_on_limit``: a leg limit-locked or halted, ``actors.strategy.closes``; a close leg whose
side is empty goes as an IOC at the locked price). No ``deviation`` close: the trade holds for
the funding, and its price risk, the basis, has its own hard bound (``BASIS_BREAK``).

Funding payments themselves never pass here: the venue's ``funding`` message reaches the
LegExecutor, which tells risk (``FundingPaid``); risk's PnL counts them.
"""

from __future__ import annotations

from typing import Any

from actors.core import Out
from actors.strategy.base import PairStrategyCore
from actors.strategy.closes import close_specs, limit_state
from actors.strategy.guard import PairGuard, PairPosition
from actors.strategy.legs import Leg, walk_levels
from actors.topology import DEFAULT, Topology
from kernels.lots import best_lot_pair
from transports.calendar import Calendar
from transports.config.engine import (
    ContractConfig,
    PairConfig,
    live_pair_fields,
    pair_value,
)
from transports.config.strategies import FundingConfig
from transports.wire.messages import (
    BookUpdate,
    ComboIntent,
    ComboState,
    Decision,
    LegSpec,
    MarkUpdate,
)


class FundingCore(PairStrategyCore):
    """One spot/perpetual pair traded on the funding rate (module docstring: the rule)."""

    def __init__(self, name: str, pair: PairConfig, contracts: dict[str, ContractConfig],
                 combo: str = "combo", epoch: int = 1, pair_index: int = 0, *,
                 calendars: dict[str, Calendar] | None = None,
                 topo: Topology = DEFAULT) -> None:
        super().__init__(name)
        self.journal = topo.journal
        self.combo = combo
        cals = calendars or {}
        ca, cb = contracts[pair.leg_a], contracts[pair.leg_b]
        self.a = Leg(ca, "A", cals.get(ca.venue))
        self.b = Leg(cb, "B", cals.get(cb.venue))
        self._legs = {(x.venue, x.sym): x for x in (self.a, self.b)}
        self.session_legs = self._legs
        self.feed_legs = (self.a, self.b)
        # base units per lot (a contract-value perpetual: its contract value in coins)
        self.base_a = ca.base_per_lot or ca.multiplier
        self.base_b = cb.base_per_lot or cb.multiplier
        la, lb, resid = best_lot_pair(self.base_a, self.base_b, pair.max_clip_lots_a,
                                      pair.max_clip_lots_b)
        self.lots_a, self.lots_b, self.residual_base = int(la), int(lb), float(resid)
        self.guard = PairGuard(name, self.journal, (ca.venue, cb.venue))
        self.pos = PairPosition(pair.name, epoch, pair_index)
        self.intents = 0
        # what the marks said (leg B's venue clock for the funding time)
        self.marks = 0
        self.rate = 0.0  #: the funding rate of the last mark, per interval
        self.streak = 0  #: signed: marks in a row beyond +entry_rate (>0) / -entry_rate (<0)
        self.next_funding_ns = 0  #: venue clock; 0 = unknown
        self.mark_px_ticks = 0
        self.index_px_ticks = 0
        self.exits: dict[str, int] = {}  #: close reason -> count
        self._last: dict[str, float] = {}
        self._configure(pair)

    @property
    def pair(self) -> PairConfig:
        """The pair's config (changed only by a ``SetParams``)."""
        return self._pair

    def _configure(self, pair: PairConfig) -> None:
        self._pair = pair
        self.f: FundingConfig = pair.funding if pair.funding is not None else FundingConfig()
        self._skew_ns = pair.max_quote_skew_ms * 1_000_000
        self._max_age_ns = pair.max_quote_age_ms * 1_000_000
        self._budget_ns = pair.hedge_budget_ms * 1_000_000
        self._cooldown_ns = pair.retry_cooldown_ms * 1_000_000
        self._lead_ns = int(self.f.lead_s * 1e9)
        for leg in (self.a, self.b):  # the calendar verdicts depend on the budget
            leg.cal_lo, leg.cal_hi = 0, -1

    # --- derived values ---------------------------------------------------------------------------

    def basis_bps(self) -> float:
        """``(P_perp x unit_factor / P_spot - 1)`` in basis points, from the book mids."""
        a, b = self.a, self.b
        spot = (a.bid_px[0] + a.ask_px[0]) * 0.5 * a.tick
        perp = (b.bid_px[0] + b.ask_px[0]) * 0.5 * b.tick * self._pair.unit_factor
        return (perp / spot - 1.0) * 1e4 if spot > 0 else float("inf")

    def _mark_px(self) -> float:
        b = self.b
        if self.mark_px_ticks > 0:
            return self.mark_px_ticks * b.tick
        return (b.bid_px[0] + b.ask_px[0]) * 0.5 * b.tick if b.bid_n and b.ask_n else 0.0

    def margin_pct(self, perp_lots: int) -> float:
        """Margin use of ``perp_lots`` contracts, in percent of ``margin_capital`` (0 when it
        is not checked)."""
        cap = self.f.margin_capital
        if cap <= 0:
            return 0.0
        cb = self.b.cfg
        return abs(perp_lots) * cb.multiplier * self._mark_px() * cb.margin_rate / cap * 100.0

    # --- combo states and the live-change check (control inputs: actors.strategy.base) --

    def on_combo_state(self, s: ComboState, now_ns: int) -> Out:
        if s.pair == self._pair.name:
            self.pos.apply(s, self.guard, now_ns, self._cooldown_ns)
        return []

    # --- market inputs ----------------------------------------------------------------------------

    def on_mark_update(self, m: MarkUpdate, now_ns: int) -> Out:
        """One observation of the perpetual's funding rate; then decide as on a book."""
        b = self.b
        if m.venue != b.venue or m.sym != b.sym:
            return []
        self.marks += 1
        self.rate = r = m.funding_rate
        self.next_funding_ns = m.ts_next_funding_ns
        self.mark_px_ticks = m.mark_px_ticks
        self.index_px_ticks = m.index_px_ticks
        e = self.f.entry_rate
        if r > e:
            self.streak = self.streak + 1 if self.streak > 0 else 1
        elif r < -e:
            self.streak = self.streak - 1 if self.streak < 0 else -1
        else:
            self.streak = 0
        return self._evaluate(now_ns, m.ts_event_ns, m.ts_recv_ns, m.ts_recv_ns)

    def on_book_update(self, u: BookUpdate, now_ns: int) -> Out:
        leg = self._legs.get((u.venue, u.sym))
        if leg is None:
            return []
        leg.take(u)
        return self._evaluate(now_ns, u.ts_event_ns, u.ts_recv_ns, u.ts_book_ns)

    # --- the decision -----------------------------------------------------------------------------

    def _evaluate(self, now_ns: int, ts_event: int, ts_recv: int, ts_book: int) -> Out:
        a, b, guard = self.a, self.b, self.guard
        for leg in (a, b):
            if not leg.ok:
                if self._pair.close_on_limit and not self.pos.flat and self.pos.pending is None:
                    # a leg limit-locked (one side empty) or halted: close what is held
                    why = limit_state((a, b))
                    if why:
                        return self._close(why, self._last.get("basis_bps", 0.0), now_ns,
                                           (ts_event, ts_recv, ts_book))
                return guard.refuse(leg.refusal(), now_ns)
        if abs((a.ts_event_ns - a.offset_ns) - (b.ts_event_ns - b.offset_ns)) > self._skew_ns:
            return guard.refuse("SKEW", now_ns)
        if self.pos.pending is not None:
            return []
        ts = (ts_event, ts_recv, ts_book)
        basis = self.basis_bps()
        self._last = {"rate": self.rate, "streak": float(self.streak), "basis_bps": basis,
                      "margin_pct": self.margin_pct(self.pos.pos_b_lots)}
        if guard.flattening or not self.pos.flat:
            return self._maybe_close(basis, now_ns, ts)
        block = guard.open_block(now_ns, (a, b), self._max_age_ns, self._budget_ns)
        if block:
            return guard.refuse(block, now_ns)
        why, direction = self._entry_signal(now_ns, basis)
        if why:
            return guard.refuse(why, now_ns)
        return self._open(direction, basis, now_ns, ts)

    def _entry_signal(self, now_ns: int, basis: float) -> tuple[str, int]:
        """("", direction) when everything but the books' depth says enter, else (reason, 0)."""
        f = self.f
        if not self.marks:
            return "NO_MARK", 0
        if abs(self.rate) <= f.entry_rate:
            return "RATE_BELOW_ENTRY", 0
        direction = 1 if self.rate > 0 else -1
        if direction < 0 and not f.reverse:
            return "REVERSE_OFF", 0
        if self.streak * direction < f.consecutive:
            return "STREAK", 0
        if not self.next_funding_ns:
            return "NO_FUNDING_TIME", 0
        # the funding time is the venue's: our clock in the venue's is now + its offset
        to_funding = self.next_funding_ns - (now_ns + self.b.offset_ns)
        if to_funding <= 0:
            return "AFTER_FUNDING", 0
        if to_funding > self._lead_ns:
            return "BEFORE_LEAD", 0
        if abs(basis) > f.max_basis_bps:
            return "BASIS", 0
        if self.margin_pct(abs(self.pos.pos_b_lots) + self.lots_b) > f.max_margin_pct:
            return "MARGIN", 0
        return "", direction

    def _open(self, direction: int, basis: float, now_ns: int,
              ts: tuple[int, int, int]) -> Out:
        """Buy spot / sell the perpetual (+1) or the reverse (-1), one clip each."""
        a, b, p = self.a, self.b, self._pair
        la, lb = self.lots_a, self.lots_b
        if direction > 0:
            va, fa, wa = walk_levels(a.ask_px, a.ask_qty, la)
            vb, fb, wb = walk_levels(b.bid_px, b.bid_qty, lb)
            side_a, side_b = "B", "S"
        else:
            va, fa, wa = walk_levels(a.bid_px, a.bid_qty, la)
            vb, fb, wb = walk_levels(b.ask_px, b.ask_qty, lb)
            side_a, side_b = "S", "B"
        if fa < la or fb < lb:
            return self.guard.refuse("DEPTH", now_ns)
        slip = p.max_slippage_ticks
        legs = [LegSpec(a.venue, a.sym, side_a, la, wa + (slip if side_a == "B" else -slip), va),
                LegSpec(b.venue, b.sym, side_b, lb, wb + (slip if side_b == "B" else -slip), vb)]
        # the funding the clip collects per interval, in the perpetual's currency
        edge = abs(self.rate) * lb * b.cfg.multiplier * self._mark_px()
        return self._intent("open", direction, legs, basis, edge, now_ns, ts)

    def _exit_reason(self, basis: float) -> str:
        f, d = self.f, self.pos.pos_dir
        if self.guard.flattening:
            return "FLATTEN"
        if self.marks and ((d > 0 and self.rate < f.exit_rate)
                           or (d < 0 and self.rate > -f.exit_rate)):
            return "RATE_FLIP"
        if abs(basis) > f.max_basis_bps:
            return "BASIS_BREAK"
        if self.margin_pct(self.pos.pos_b_lots) > f.max_margin_pct:
            return "MARGIN"
        if d == 0:  # a leg left over (a repaired combo): nothing to collect, close it
            return "UNPAIRED"
        return ""

    def _maybe_close(self, basis: float, now_ns: int, ts: tuple[int, int, int]) -> Out:
        why = self._exit_reason(basis)
        if not why:
            return []
        if self.pos.flat:  # flattened: nothing held, nothing opens until resumed
            return self.guard.refuse("HALTED", now_ns)
        return self._close(why, basis, now_ns, ts)

    def _close(self, why: str, basis: float, now_ns: int, ts: tuple[int, int, int]) -> Out:
        """Both legs against the position; a leg whose side is empty (limit-locked against
        us) goes as an IOC at the locked price (``closes.close_leg``)."""
        pos, guard = self.pos, self.guard
        block = guard.close_block(now_ns)
        if block:
            return guard.refuse(block, now_ns)
        slip = self._pair.max_slippage_ticks * (3 if guard.flattening else 1)
        legs, _ = close_specs(((self.a, pos.pos_a_lots), (self.b, pos.pos_b_lots)), slip)
        if legs is None:  # a held leg without a single level: wait for the book
            return guard.refuse("DEPTH", now_ns)
        self.exits[why] = self.exits.get(why, 0) + 1
        detail = (f"{why} rate={self.rate:.6g} exit_rate={self.f.exit_rate:.6g} "
                  f"basis_bps={basis:.3f} margin_pct={self.margin_pct(pos.pos_b_lots):.3f} "
                  f"pos={pos.pos_a_lots},{pos.pos_b_lots}")
        out: Out = [(self.journal, Decision(self.name, "close", detail, now_ns))]
        return out + self._intent("close", pos.pos_dir, legs, basis, 0.0, now_ns, ts)

    def _intent(self, action: str, direction: int, legs: list[LegSpec], basis: float,
                edge: float, now_ns: int, ts: tuple[int, int, int]) -> Out:
        a, b = self.a.cfg, self.b.cfg
        cost = 2.0 * (self.lots_a * a.fee_per_lot + self.lots_b * b.fee_per_lot)
        cid = self.pos.next_id()
        self.intents += 1
        self.guard.last_refusal = ""  # the next refusal is journaled whatever it is
        # spread: the basis (bps); mean: the funding rate; z: the signed streak of marks
        intent = ComboIntent(cid, self._pair.name, action, direction,  # type: ignore[arg-type]
                             legs, basis, self.rate, float(self.streak), edge, cost,
                             self.residual_base, ts[0], ts[1], ts[2], now_ns)
        return [(self.combo, intent)]

    def snapshot(self) -> dict[str, Any]:
        """Position, pending combo, the funding state, refusal and exit counters."""
        p = self._pair
        return {"pair": p.name, "kind": "funding", **self.pos.snapshot(),
                "intents": self.intents, "lots": [self.lots_a, self.lots_b],
                "residual_base": self.residual_base, "marks": self.marks, "rate": self.rate,
                "streak": self.streak, "next_funding_ns": self.next_funding_ns,
                "mark_px_ticks": self.mark_px_ticks, "exits": dict(self.exits),
                "last": dict(self._last), **self.guard.snapshot(),
                "params": {k: pair_value(p, k) for k in live_pair_fields(p)},
                "feeds": {x.key: [x.feed, x.offset_ns] for x in (self.a, self.b)}}


__all__ = ["FundingCore"]

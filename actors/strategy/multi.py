"""Multi-venue strategy (搬砖): one asset quoted on N >= 3 venues; buy where it is cheap, sell
where it is rich, net of each venue's fees; close when the venues agree again.

In: ``BookUpdate`` for every contract of ``multi.legs``; ``SessionStatus``, ``FeedHealth``,
``VenueGate``, ``ClockJump``, ``TradingState``, ``Halt``/``Resume``/``Flatten``, ``SetParams``
and ``ComboState`` (those of the pair's sub-pairs, ``"<pair>/<i>-<j>"``). Out: ``ComboIntent``
to the ComboExecutor, ``Decision`` records to the journal.

Routing: the ComboExecutor and risk only know two-legged pairs, so a combo between
``legs[i]`` and ``legs[j]`` goes as sub-pair ``sub_pair_name(pair, i, j)`` (its leg A
``legs[i]``, leg B ``legs[j]``; ``actors.strategy.kinds.combo_pairs``). An open always buys
``legs[i]`` and sells ``legs[j]`` (direction +1); its close sells ``i`` and buys ``j``. Each
sub-pair's position is a ``PairPosition``; the gates are a ``PairGuard``.

Selection, per book update (prices in the legs' common price unit, ``unit_factor`` 1): for
every ordered pair (b, s) of usable, admitted venues and its clip (``best_lot_pair``),

    edge(b, s) = VWAP_bid_s(clip_s) - VWAP_ask_b(clip_b) - fee_open(b, s)
    cost(b, s) = fee_open(b, s) + 2 x slippage_ticks x (tick_b + tick_s)   (what is still to pay:
                 the close's fees, the expected slippage of all four fills)
    need(b, s) = cost(b, s) x safety_factor + min_edge

with ``fee_open = (clip_b x fee_b + clip_s x fee_s) / (clip_b x multiplier_b)`` per unit of
price. The pair with the largest ``edge - need`` >= 0 opens, unless its sell venue is a spot
leg (``multi.spot``) that does not hold the clip: what it holds is ``inventory_base`` plus what
the pair's combos bought there less what they sold, in base units (``INVENTORY_<venue>``: the
next best pair is tried). Refusals: the leg checks (fewer than three usable venues),
``WARMUP``, ``MAX_POSITION``, ``NO_EDGE``, ``SKEW`` (a leg of the best pair quotes from more
than ``max_quote_skew_ms`` before the newest quote of any venue: its update is on the way),
``OUTLIER_<venue>`` (the best pair by price needs an excluded venue), ``INVENTORY_<venue>``,
the guard's gates (``HALTED``, ``REDUCING``, ``VENUE_<STATE>``, ``COOLDOWN``, ...).

Outliers: ``actors.strategy.multi_outlier.OutlierGate`` (journaled ``exclude`` / ``readmit``).

Closes: a held sub-pair closes when the venues agree again, ``mid_s - mid_b <= exit_edge``, when
held longer than ``time_stop_s`` (if set), or at once on ``Flatten`` (everything held, one combo
at a time). A close waits for an excluded venue to come back (on a flatten, at most
``multi.flatten_wait_s``). With ``close_on_limit``, a held sub-pair one of whose venues is
limit-locked or halted closes at once (``actors.strategy.closes``; journaled ``close`` with
``limit <sub-pair>`` / ``halt <sub-pair>``; a leg whose side is empty goes as an IOC at the locked
price). Every close takes the sub-pair back to zero on both venues, so each venue's inventory
returns to its start.

One combo is in flight at a time; at most ``max_spread_position`` sub-pairs are held at once
(one clip each).
"""

from __future__ import annotations

from typing import Any

from actors.core import Out
from actors.strategy.base import PairStrategyCore
from actors.strategy.closes import close_specs, limit_state
from actors.strategy.guard import PairGuard, PairPosition
from actors.strategy.kinds import sub_pair_name
from actors.strategy.legs import Leg
from actors.strategy.multi_outlier import OutlierGate
from actors.strategy.multi_routes import Route, price_routes
from actors.topology import DEFAULT, Topology
from transports.calendar import Calendar
from transports.config.engine import ContractConfig, PairConfig
from transports.errors import ConfigError
from transports.wire.messages import (
    BookUpdate,
    ComboIntent,
    ComboState,
    Decision,
    Flatten,
    LegSpec,
)


class MultiVenueCore(PairStrategyCore):
    """Pure pricing and decisions of one multi-venue pair (see the module docstring)."""

    def __init__(self, name: str, pair: PairConfig, contracts: dict[str, ContractConfig],
                 combo: str = "combo", epoch: int = 1, pair_index: int = 0, *,
                 calendars: dict[str, Calendar] | None = None,
                 topo: Topology = DEFAULT) -> None:
        super().__init__(name)
        if pair.multi is None:
            raise ConfigError(f"pairs.{pair.name}: kind multi needs a [pairs.multi] section")
        cals = calendars or {}
        self.combo = combo
        self.journal = topo.journal
        self.keys = list(pair.multi.legs)
        self.contracts = [contracts[k] for k in self.keys]
        if len({c.ccy for c in self.contracts}) > 1:  # one price unit: no FX between venues
            raise ConfigError(f"pairs.{pair.name}.multi.legs: quoted in different currencies "
                              f"{sorted({c.ccy for c in self.contracts})}")
        self.legs = [Leg(c, c.venue, cals.get(c.venue)) for c in self.contracts]
        self._index = {(x.venue, x.sym): k for k, x in enumerate(self.legs)}
        self.session_legs = {(x.venue, x.sym): x for x in self.legs}
        self.feed_legs = tuple(self.legs)
        self.guard = PairGuard(name, topo.journal, (x.venue for x in self.legs))
        self.pos: dict[tuple[int, int], PairPosition] = {}
        self._by_sub: dict[str, tuple[int, int]] = {}
        n = len(self.keys)
        for i in range(n):
            for j in range(n):
                if i != j:
                    sub = sub_pair_name(pair.name, i, j)
                    self.pos[(i, j)] = PairPosition(sub, epoch, pair_index)
                    self._by_sub[sub] = (i, j)
        #: combo ids embed the epoch and the pair (``PairPosition``): one sequence for the pair
        self.combo_seq = epoch * 1_000_000_000 + pair_index * 1_000_000
        self.intents = 0
        self.outliers = OutlierGate(n, pair.multi.outlier_window, pair.multi.outlier_sigma,
                                    pair.multi.outlier_min_bps)
        self.last_best: dict[str, Any] = {}
        self._flatten_until_ns = 0  #: a flatten waits for excluded venues until then
        self._configure(pair)

    # --- configuration ----------------------------------------------------------------------------

    @property
    def pair(self) -> PairConfig:
        return self._pair

    def _configure(self, pair: PairConfig) -> None:
        assert pair.multi is not None
        self._pair = pair
        m = pair.multi
        self.routes = [Route(sub_pair_name(pair.name, i, j), i, j, self.contracts[i],
                              self.contracts[j], self.legs[i].tick, self.legs[j].tick, pair)
                       for (i, j) in self.pos]
        self.spot = [k in m.spot for k in self.keys]
        self.inventory_base = [float(m.inventory_base.get(k, 0.0)) for k in self.keys]
        self.base = [c.base_per_lot or c.multiplier for c in self.contracts]
        self._max_age_ns = pair.max_quote_age_ms * 1_000_000
        self._skew_ns = pair.max_quote_skew_ms * 1_000_000
        self._budget_ns = pair.hedge_budget_ms * 1_000_000
        self._cooldown_ns = pair.retry_cooldown_ms * 1_000_000
        self._time_stop_ns = int(pair.time_stop_s * 1e9)
        self._flatten_wait_ns = int(m.flatten_wait_s * 1e9)
        self.outliers.configure(m.outlier_window, m.outlier_sigma, m.outlier_min_bps)
        for leg in self.legs:  # calendar verdicts depend on the budget
            leg.cal_lo, leg.cal_hi = 0, -1

    # --- what the pair holds ----------------------------------------------------------------------

    @property
    def pending(self) -> int | None:
        """The combo in flight (one at a time), or None."""
        for p in self.pos.values():
            if p.pending is not None:
                return p.pending
        return None

    def held(self) -> list[tuple[int, int]]:
        """The sub-pairs holding something, in a fixed order."""
        return [ij for ij, p in self.pos.items() if not p.flat]

    def venue_lots(self) -> list[int]:
        """Signed lots the pair's combos hold on each leg."""
        out = [0] * len(self.keys)
        for (i, j), p in self.pos.items():
            out[i] += p.pos_a_lots
            out[j] += p.pos_b_lots
        return out

    def available_base(self, k: int) -> float:
        """What leg ``k`` may sell, in base units: its start inventory plus the fills so far
        (infinite for a leg that is not spot)."""
        if not self.spot[k]:
            return float("inf")
        return self.inventory_base[k] + self.venue_lots()[k] * self.base[k]

    # --- combo states and the live-change check (control inputs: actors.strategy.base) --

    def on_flatten(self, m: Flatten, now_ns: int) -> Out:
        """Close every sub-pair held, reverted or not; open nothing until resumed."""
        if not self.guard.flattening:
            self._flatten_until_ns = now_ns + self._flatten_wait_ns
        self.guard.on_flatten(m)
        return []

    def on_combo_state(self, s: ComboState, now_ns: int) -> Out:
        ij = self._by_sub.get(s.pair)
        if ij is not None:
            self.pos[ij].apply(s, self.guard, now_ns, self._cooldown_ns)
        return []

    # --- market data ------------------------------------------------------------------------------

    def check_live(self, new: PairConfig) -> None:
        """``multi.legs`` is fixed at start (the sub-pairs are routed by it)."""
        if new.multi is None or new.multi.legs != self.keys:
            raise ConfigError(f"pairs.{self._pair.name}.multi.legs: fixed at start")

    def on_book_update(self, u: BookUpdate, now_ns: int) -> Out:
        k = self._index.get((u.venue, u.sym))
        if k is None:
            return []
        leg = self.legs[k]
        leg.take(u)
        out: Out = []
        mids = [self._mid(x) for x in self.legs if x.ok]
        if leg.ok:
            change = self.outliers.judge(k, self._mid(leg), mids)
            if change:
                dev = self.outliers.dev_bps[k]
                what = "exclude" if change > 0 else "readmit"
                out.append((self.journal, Decision(self.name, what,
                                                   f"OUTLIER_{leg.venue} dev_bps={dev:.2f}",
                                                   now_ns)))
        if self.pending is not None:
            return out
        if self.guard.flattening or self.held():
            close = self._maybe_close(u, now_ns)
            if close is not None:
                return out + close
            if self.guard.flattening:
                return out
        return out + self._maybe_open(u, now_ns)

    def _behind(self, lb: Leg, ls: Leg) -> bool:
        """Whether leg ``lb`` or ``ls`` quotes from further back than ``max_quote_skew_ms``
        before the newest quote of any usable venue (our time): the venues refresh, their
        updates arrive one by one, and a decision on the two that have not arrived yet would
        price a book that is already gone."""
        newest = max(x.ts_event_ns - x.offset_ns for x in self.legs if x.ok)
        oldest = min(lb.ts_event_ns - lb.offset_ns, ls.ts_event_ns - ls.offset_ns)
        return newest - oldest > self._skew_ns

    @staticmethod
    def _mid(x: Leg) -> float:
        return (x.bid_px[0] + x.ask_px[0]) * 0.5 * x.tick

    # --- closes -----------------------------------------------------------------------------------

    def _maybe_close(self, u: BookUpdate, now_ns: int) -> Out | None:
        """The close of the first held sub-pair that is due; a refusal when one is due but a
        gate holds it back; None when none is due (opens may go then)."""
        g, p = self.guard, self._pair
        why = ""
        for (i, j) in self.held():
            pos = self.pos[(i, j)]
            lb, ls = self.legs[i], self.legs[j]
            if not (lb.ok and ls.ok):
                locked = limit_state((lb, ls)) if p.close_on_limit else ""
                if locked:  # a leg of it limit-locked (one side empty) or halted: close it
                    block = g.close_block(now_ns, (lb.venue, ls.venue))
                    if block:
                        return g.refuse(block, now_ns)
                    return self._close(pos, i, j, u, now_ns, locked)
                why = why or (lb if not lb.ok else ls).refusal()
                continue
            excluded = self.outliers.out[i] or self.outliers.out[j]
            if g.flattening and excluded and now_ns < self._flatten_until_ns:
                why = why or f"OUTLIER_{(lb if self.outliers.out[i] else ls).venue}"
                continue  # a bad print: give the venue a while to come back
            if not g.flattening:
                if excluded:
                    continue  # no close against a bad print: wait for the venue to come back
                reverted = self._mid(ls) - self._mid(lb) <= p.exit_edge
                timed_out = bool(self._time_stop_ns and pos.opened_ns
                                 and now_ns - pos.opened_ns >= self._time_stop_ns)
                if not (reverted or timed_out):
                    continue
                if self._behind(lb, ls):
                    return g.refuse("SKEW", now_ns)  # their updates are on the way
            block = g.close_block(now_ns, (lb.venue, ls.venue))
            if block:
                return g.refuse(block, now_ns)
            return self._close(pos, i, j, u, now_ns)
        if why and g.flattening:
            return g.refuse(why, now_ns)
        return None

    def _close(self, pos: PairPosition, i: int, j: int, u: BookUpdate, now_ns: int,
               locked: str = "") -> Out:
        """Close sub-pair (i, j): sell what is long, buy what is short; ``locked`` (``limit``
        / ``halt``) is journaled as the close's reason, a leg whose side is empty going as an
        IOC at the locked price (``closes.close_leg``)."""
        p = self._pair
        slip = p.max_slippage_ticks * (3 if self.guard.flattening else 1)
        li, lj = self.legs[i], self.legs[j]
        legs, _ = close_specs(((li, pos.pos_a_lots), (lj, pos.pos_b_lots)), slip)
        if legs is None:
            return self.guard.refuse("LIMIT_UNPRICED", now_ns)
        spread = self._mid(lj) - self._mid(li) if (li.bid_n and li.ask_n and lj.bid_n
                                                   and lj.ask_n) else 0.0
        route = self.routes[self._route_index(i, j)]
        out = self._intent(pos, route, "close", legs, spread, 0.0, route.cost, u, now_ns)
        if locked:
            out.append((self.journal, Decision(self.name, "close", f"{locked} {route.name}",
                                               now_ns)))
        return out

    def _route_index(self, i: int, j: int) -> int:
        n = len(self.keys)
        return i * (n - 1) + (j if j < i else j - 1)

    # --- opens ------------------------------------------------------------------------------------

    def _maybe_open(self, u: BookUpdate, now_ns: int) -> Out:
        g, p = self.guard, self._pair
        usable = [x.ok for x in self.legs]
        if sum(usable) < 3:  # two venues cannot tell which of them is off
            bad = next(x for x in self.legs if not x.ok)
            return g.refuse(bad.refusal(), now_ns)
        if min(n for n, ok in zip(self.outliers.samples, usable, strict=True) if ok) \
                < self.outliers.warm_after:
            return g.refuse("WARMUP", now_ns)
        if len(self.held()) >= p.max_spread_position:
            return g.refuse("MAX_POSITION", now_ns)
        held = {frozenset(ij) for ij in self.held()}
        skip = [frozenset((r.i, r.j)) in held or not (usable[r.i] and usable[r.j])
                for r in self.routes]
        best, cands = price_routes(self.routes, self.legs, skip)
        if best is not None:
            self.last_best = {"route": best[1].name, "excess": round(best[0], 6)}
        reason = "NO_EDGE"
        if not cands:
            return g.refuse(reason, now_ns)
        for r, ask, bid, edge in cands:
            lb, ls = self.legs[r.i], self.legs[r.j]
            if self.outliers.out[r.i] or self.outliers.out[r.j]:
                if reason == "NO_EDGE":
                    reason = f"OUTLIER_{(lb if self.outliers.out[r.i] else ls).venue}"
                continue
            if self.available_base(r.j) < r.lots_j * self.base[r.j] - 1e-12:
                if reason == "NO_EDGE":
                    reason = f"INVENTORY_{ls.venue}"
                continue
            if self._behind(lb, ls):
                return g.refuse("SKEW", now_ns)  # their updates are on the way
            block = g.open_block(now_ns, (lb, ls), self._max_age_ns, self._budget_ns,
                                 (lb.venue, ls.venue))
            if block:
                if reason == "NO_EDGE":
                    reason = block
                continue
            slip = p.max_slippage_ticks
            legs = [LegSpec(lb.venue, lb.sym, "B", r.lots_i, ask[2] + slip, ask[0]),
                    LegSpec(ls.venue, ls.sym, "S", r.lots_j, bid[2] - slip, bid[0])]
            spread = bid[0] * ls.tick - ask[0] * lb.tick
            return self._intent(self.pos[(r.i, r.j)], r, "open", legs, spread, edge, r.cost,
                                u, now_ns)
        return g.refuse(reason, now_ns)

    def _intent(self, pos: PairPosition, r: Route, action: str, legs: list[LegSpec],
                spread: float, edge: float, cost: float, u: BookUpdate, now_ns: int) -> Out:
        self.combo_seq += 1
        pos.pending = self.combo_seq
        self.intents += 1
        self.guard.last_refusal = ""  # the next refusal is journaled whatever it is
        intent = ComboIntent(self.combo_seq, r.name, action, 1,  # type: ignore[arg-type]
                             legs, spread, 0.0, 0.0, edge, cost, r.residual,
                             u.ts_event_ns, u.ts_recv_ns, u.ts_book_ns, now_ns)
        return [(self.combo, intent)]

    # --- views ------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Position per sub-pair and venue, the combo in flight, outliers and refusals.
        ``pos_dir`` is 1 while any sub-pair holds something, else 0."""
        held = self.held()
        lots = self.venue_lots()
        return {"pair": self._pair.name, "pending": self.pending, "pos_dir": 1 if held else 0,
                "intents": self.intents,
                "held": {self.pos[ij].pair: [self.pos[ij].pos_a_lots, self.pos[ij].pos_b_lots]
                         for ij in held},
                "venue_lots": dict(zip(self.keys, lots, strict=True)),
                "available_base": {k: self.available_base(n) for n, k in enumerate(self.keys)
                                   if self.spot[n]},
                "outliers": self.outliers.snapshot(), "last": dict(self.last_best),
                **self.guard.snapshot(),
                "feeds": {x.key: [x.feed, x.offset_ns] for x in self.legs}}


__all__ = ["MultiVenueCore"]

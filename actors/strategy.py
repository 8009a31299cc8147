"""Strategy actor: prices one cross-market pair and decides when to open and close it.

In: ``BookUpdate`` for leg A, leg B and the FX rate; ``SessionStatus``; ``ComboState`` from the
ComboExecutor; ``Control`` (flatten, halt, resume). Out: ``ComboIntent`` to the ComboExecutor.

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

from decimal import Decimal
from typing import Any

import numpy as np

from actors.base import Core, Out
from kernels.book import walk_book
from kernels.lots import best_lot_pair
from kernels.pricing import parity
from kernels.stats import zscore_init, zscore_mean_std, zscore_update
from transports.config import ContractConfig, PairConfig
from transports.messages import BookUpdate, ComboIntent, ComboState, Control, LegSpec, \
    SessionStatus

#: Samples the rolling window needs before the strategy trades.
MIN_WARM_SAMPLES = 200


class _Leg:
    __slots__ = ("bid_n", "bid_px", "bid_qty", "ask_n", "ask_px", "ask_qty", "cfg", "key",
                 "session", "tick", "ts_event_ns", "valid")

    def __init__(self, cfg: ContractConfig) -> None:
        self.cfg = cfg
        self.key = f"{cfg.venue}:{cfg.sym}"
        self.tick = float(Decimal(cfg.tick))
        self.valid = False
        self.session = "open"
        self.ts_event_ns = 0
        self.bid_px = np.zeros(0, np.int64)
        self.bid_qty = np.zeros(0, np.int64)
        self.ask_px = np.zeros(0, np.int64)
        self.ask_qty = np.zeros(0, np.int64)
        self.bid_n = 0
        self.ask_n = 0

    def update(self, u: BookUpdate) -> None:
        self.valid = u.valid
        if not u.valid:
            return
        self.ts_event_ns = u.ts_event_ns
        self.bid_px = np.asarray(u.bid_px, np.int64)
        self.bid_qty = np.asarray(u.bid_qty, np.int64)
        self.ask_px = np.asarray(u.ask_px, np.int64)
        self.ask_qty = np.asarray(u.ask_qty, np.int64)
        self.bid_n = len(u.bid_px)
        self.ask_n = len(u.ask_px)

    def usable(self) -> bool:
        return self.valid and self.session == "open" and self.bid_n > 0 and self.ask_n > 0


class StrategyCore(Core):
    """Pure pricing and signal logic for one pair."""

    def __init__(self, name: str, pair: PairConfig, leg_a: ContractConfig, leg_b: ContractConfig,
                 fx: ContractConfig | None, combo: str = "combo", epoch: int = 1,
                 pair_index: int = 0) -> None:
        super().__init__(name)
        self.pair = pair
        self.a = _Leg(leg_a)
        self.b = _Leg(leg_b)
        self.fx = _Leg(fx) if fx is not None else None
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
        self.pos_a_lots = 0  #: signed lots held on A by this pair
        self.pos_b_lots = 0
        #: combo id -> signed (A lots, B lots) it holds for this pair
        self.holdings: dict[int, tuple[int, int]] = {}
        self.flattening = False
        self.halted = False
        self.refusals: dict[str, int] = {}
        self.intents = 0
        self.last: dict[str, float] = {}
        fee_units = leg_a.multiplier * self.lots_a
        self._fee_a_per_unit = self.lots_a * leg_a.fee_per_lot / fee_units
        self._fee_b_per_unit = self.lots_b * leg_b.fee_per_lot / fee_units  # times FX later
        self._legs = {self.a.key: self.a, self.b.key: self.b}
        if self.fx is not None:
            self._legs[self.fx.key] = self.fx

    # --- helpers ---------------------------------------------------------------------------------

    def _refuse(self, reason: str) -> Out:
        self.refusals[reason] = self.refusals.get(reason, 0) + 1
        return []

    def _fx_rate(self) -> float:
        if self.fx is None:
            return 1.0
        f = self.fx
        mid = (f.bid_px[0] + f.ask_px[0]) * 0.5 * f.tick
        return 1.0 / mid if self.pair.fx_invert else mid

    def _parity(self, p_b_ticks: float, fx: float) -> float:
        p = self.pair
        return float(parity(p_b_ticks * self.b.tick, fx, p.unit_factor, p.import_tax, p.premium))

    # --- handlers --------------------------------------------------------------------------------

    def on_session_status(self, s: SessionStatus, now_ns: int) -> Out:
        leg = self._legs.get(f"{s.venue}:{s.sym}")
        if leg is not None:
            leg.session = s.state
        return []

    def on_control(self, c: Control, now_ns: int) -> Out:
        if c.cmd == "flatten":
            self.flattening = True
            self.halted = True
        elif c.cmd == "halt":
            self.halted = True
        elif c.cmd == "resume":
            self.halted = False
            self.flattening = False
        return []

    def on_combo_state(self, s: ComboState, now_ns: int) -> Out:
        if s.pair != self.pair.name:
            return []
        # Holdings are kept per combo and summed, so a late fill that re-opens an old combo
        # still reaches the position, whether or not that combo is the pending one.
        sign_a = 1 if s.direction > 0 else -1
        a, b = sign_a * s.filled_a_lots, -sign_a * s.filled_b_lots
        if s.action != "open":
            a, b = -a, -b  # a close trades against the position it closes
        self.holdings[s.combo_id] = (a, b)
        self.pos_a_lots = sum(h[0] for h in self.holdings.values())
        self.pos_b_lots = sum(h[1] for h in self.holdings.values())
        if s.combo_id == self.pending and s.state not in ("working", "repairing"):
            self.pending = None
            if self.pos_a_lots == 0 and self.pos_b_lots == 0:
                self.pos_dir = 0
                self.holdings.clear()
            elif s.action == "open":
                self.pos_dir = s.direction
        return []

    def on_book_update(self, u: BookUpdate, now_ns: int) -> Out:
        leg = self._legs.get(f"{u.venue}:{u.sym}")
        if leg is None:
            return []
        leg.update(u)
        if leg is self.fx:
            return []  # the rate alone never triggers a decision
        return self._evaluate(u, now_ns)

    def _evaluate(self, u: BookUpdate, now_ns: int) -> Out:
        a, b, p = self.a, self.b, self.pair
        for leg, tag in ((a, "A"), (b, "B"), (self.fx, "FX")):
            if leg is None:
                continue
            if not leg.valid:
                return self._refuse(f"INVALID_{tag}")
            if not leg.usable():
                return self._refuse(f"CLOSED_{tag}" if leg.session != "open" else f"EMPTY_{tag}")
        if abs(a.ts_event_ns - b.ts_event_ns) > p.max_quote_skew_ms * 1_000_000:
            return self._refuse("SKEW")
        fx = self._fx_rate()
        mid_a = (a.bid_px[0] + a.ask_px[0]) * 0.5 * a.tick
        mid_b = (b.bid_px[0] + b.ask_px[0]) * 0.5
        mid_spread = mid_a - self._parity(mid_b, fx)
        mean, std = (float(v) for v in zscore_mean_std(self.zbuf, self.zstate))
        warm = self.samples >= min(MIN_WARM_SAMPLES, p.z_window)
        z = (mid_spread - mean) / std if (warm and std > 1e-12) else 0.0
        # winsorise: a dislocation moves z, not the mean it is measured against
        x = mid_spread
        if warm and std > 1e-12 and abs(z) > p.z_entry:
            x = mean + (p.z_entry if z > 0 else -p.z_entry) * std
        zscore_update(self.zbuf, self.zstate, x)
        self.samples += 1
        fair = p.fair_basis if p.fair_basis is not None else mean
        self.last = {"mid_spread": mid_spread, "mean": fair, "std": std, "z": z, "fx": fx}
        if not warm:
            return self._refuse("WARMUP")
        if self.pending is not None:
            return []
        if self.flattening or self.pos_dir != 0:
            return self._maybe_close(u, fx, fair, z, now_ns)
        if self.halted:
            return self._refuse("HALTED")
        return self._maybe_open(u, fx, fair, z, now_ns)

    def _exec(self, fx: float, la: int, lb: int) -> tuple[Any, ...] | None:
        a, b = self.a, self.b
        bid_a, fa_b, worst_bid_a = walk_book(a.bid_px, a.bid_qty, a.bid_n, la)
        ask_a, fa_a, worst_ask_a = walk_book(a.ask_px, a.ask_qty, a.ask_n, la)
        bid_b, fb_b, worst_bid_b = walk_book(b.bid_px, b.bid_qty, b.bid_n, lb)
        ask_b, fb_a, worst_ask_b = walk_book(b.ask_px, b.ask_qty, b.ask_n, lb)
        # plain Python numbers: these go into messages, which must encode without numpy
        return (float(bid_a), fa_b >= la, int(worst_bid_a), float(ask_a), fa_a >= la,
                int(worst_ask_a), float(bid_b), fb_b >= lb, int(worst_bid_b), float(ask_b),
                fb_a >= lb, int(worst_ask_b))

    def _cost(self, fx: float) -> float:
        p = self.pair
        fees = self._fee_a_per_unit + self._fee_b_per_unit * fx
        slip = p.slippage_ticks * (self.a.tick + self.b.tick * fx * p.unit_factor)
        return 2.0 * (fees + slip)  # open and close

    def _maybe_open(self, u: BookUpdate, fx: float, fair: float, z: float, now_ns: int) -> Out:
        p, a = self.pair, self.a
        la, lb = self.lots_a, self.lots_b
        (bid_a, ok_bid_a, worst_bid_a, ask_a, ok_ask_a, worst_ask_a,
         bid_b, ok_bid_b, worst_bid_b, ask_b, ok_ask_b, worst_ask_b) = self._exec(fx, la, lb)
        cost = self._cost(fx)
        need = cost * p.safety_factor + p.min_edge
        sell_spread = bid_a * a.tick - self._parity(ask_b, fx)
        buy_spread = ask_a * a.tick - self._parity(bid_b, fx)
        if ok_bid_a and ok_ask_b and sell_spread - fair >= need and z >= p.z_entry:
            legs = [LegSpec(a.cfg.venue, a.cfg.sym, "S", la, int(worst_bid_a) - p.max_slippage_ticks,
                            bid_a),
                    LegSpec(self.b.cfg.venue, self.b.cfg.sym, "B", lb,
                            int(worst_ask_b) + p.max_slippage_ticks, ask_b)]
            return self._intent("open", -1, legs, sell_spread, fair, z, sell_spread - fair, cost,
                                u, now_ns)
        if ok_ask_a and ok_bid_b and fair - buy_spread >= need and z <= -p.z_entry:
            legs = [LegSpec(a.cfg.venue, a.cfg.sym, "B", la, int(worst_ask_a) + p.max_slippage_ticks,
                            ask_a),
                    LegSpec(self.b.cfg.venue, self.b.cfg.sym, "S", lb,
                            int(worst_bid_b) - p.max_slippage_ticks, bid_b)]
            return self._intent("open", 1, legs, buy_spread, fair, z, fair - buy_spread, cost, u,
                                now_ns)
        return self._refuse("NO_EDGE")

    def _maybe_close(self, u: BookUpdate, fx: float, fair: float, z: float, now_ns: int) -> Out:
        p, a, b = self.pair, self.a, self.b
        reverted = (self.pos_dir < 0 and z <= p.z_exit) or (self.pos_dir > 0 and z >= -p.z_exit)
        if not (reverted or self.flattening):
            return []
        la, lb = abs(self.pos_a_lots), abs(self.pos_b_lots)
        slip = p.max_slippage_ticks * (3 if self.flattening else 1)
        legs = []
        # the close trades against the position: sell what is long, buy what is short
        exec_a = walk_book(a.bid_px, a.bid_qty, a.bid_n, la) if self.pos_a_lots > 0 else \
            walk_book(a.ask_px, a.ask_qty, a.ask_n, la)
        exec_b = walk_book(b.bid_px, b.bid_qty, b.bid_n, lb) if self.pos_b_lots > 0 else \
            walk_book(b.ask_px, b.ask_qty, b.ask_n, lb)
        if la:
            side = "S" if self.pos_a_lots > 0 else "B"
            lim = int(exec_a[2]) + (-slip if side == "S" else slip)
            legs.append(LegSpec(a.cfg.venue, a.cfg.sym, side, la, lim, float(exec_a[0])))
        if lb:
            side = "S" if self.pos_b_lots > 0 else "B"
            lim = int(exec_b[2]) + (-slip if side == "S" else slip)
            legs.append(LegSpec(b.cfg.venue, b.cfg.sym, side, lb, lim, float(exec_b[0])))
        if not legs:
            self.pos_dir = 0
            return []
        spread = float(exec_a[0]) * a.tick - self._parity(float(exec_b[0]), fx) if la and lb \
            else 0.0
        return self._intent("close", self.pos_dir, legs, spread, fair, z, 0.0, self._cost(fx),
                            u, now_ns)

    def _intent(self, action: str, direction: int, legs: list[LegSpec], spread: float,
                mean: float, z: float, edge: float, cost: float, u: BookUpdate,
                now_ns: int) -> Out:
        self.combo_seq += 1
        self.pending = self.combo_seq
        self.intents += 1
        intent = ComboIntent(self.combo_seq, self.pair.name, action, direction,  # type: ignore[arg-type]
                             legs, spread, mean, z, edge, cost, self.residual_base,
                             u.ts_event_ns, u.ts_recv_ns, u.ts_book_ns, now_ns)
        return [(self.combo, intent)]

    def snapshot(self) -> dict[str, Any]:
        """Return position, pending combo, last signal values and refusal counters."""
        return {"pair": self.pair.name, "pos_dir": self.pos_dir, "pos_a_lots": self.pos_a_lots,
                "pos_b_lots": self.pos_b_lots, "pending": self.pending, "intents": self.intents,
                "lots": [self.lots_a, self.lots_b], "residual_base": self.residual_base,
                "samples": self.samples, "refusals": dict(self.refusals), "last": self.last,
                "halted": self.halted, "flattening": self.flattening}

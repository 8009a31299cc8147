"""StrategyCore: parity, thresholds, warm-up, open on dislocation, close on reversion."""

from __future__ import annotations

import random
from decimal import Decimal

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.strategy.strategy import MIN_WARM_SAMPLES, StrategyCore, walk_levels
from kernels.lots import best_lot_pair
from kernels.stats import zscore_init, zscore_mean_std, zscore_update
from tests.support.helpers import msgs
from tests.support.oracles import parity, walk_book
from transports.calendar import parse_calendars
from transports.config.engine import load_config
from transports.wire.codec import encode
from transports.wire.messages import (
    BookUpdate,
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
)

GRAMS_PER_OZ = 31.1034768


def _core(max_quote_age_ms: int = 10**13) -> StrategyCore:
    """The demo pair. Its quotes are stamped in small venue times while the tests' clock runs
    on, so the quote-age gate is off here unless a test sets it (its own tests below)."""
    cfg = load_config()
    c = {f"{x.venue}:{x.sym}": x for x in cfg.contracts}
    p = msgspec.structs.replace(cfg.pairs[0], max_quote_age_ms=max_quote_age_ms)
    return StrategyCore("strategy.au-gc", p, c[p.leg_a], c[p.leg_b], c[p.fx], "combo", 1)


def _upd(venue: str, sym: str, bid: int, ask: int, qty: int = 100, ts: int = 0) -> BookUpdate:
    return BookUpdate(venue, sym, True, ts, ts, ts, [bid, bid - 1], [qty, qty], [ask, ask + 1],
                      [qty, qty])


def _feed(s: StrategyCore, au_mid_cny: float, ts: int) -> list:
    au_bid = round(au_mid_cny / 0.02) - 1
    return s.on_book_update(_upd("shfe", "au2606", au_bid, au_bid + 2, ts=ts), ts)


def _prime(s: StrategyCore, gc: float = 2650.0, fx: float = 7.2) -> float:
    s.on_book_update(_upd("fx", "USDCNH", round(fx / 0.0001) - 1, round(fx / 0.0001) + 1), 0)
    s.on_book_update(_upd("comex", "GCZ6", round(gc / 0.1) - 1, round(gc / 0.1) + 1), 0)
    parity = gc * fx / GRAMS_PER_OZ
    for i in range(MIN_WARM_SAMPLES + 50):
        # calm: basis 0.5 CNY/g with a one-tick wobble
        _feed(s, parity + 0.5 + (0.02 if i % 2 else 0.0), i)
    return parity


def test_lot_pair_for_gold_is_28_to_9() -> None:
    s = _core()
    assert (s.lots_a, s.lots_b) == (28, 9)
    assert s.residual_base == pytest.approx(28_000 - 9 * 3110.34768)


def test_no_decision_while_warming_up() -> None:
    s = _core()
    s.on_book_update(_upd("fx", "USDCNH", 71999, 72001), 0)
    s.on_book_update(_upd("comex", "GCZ6", 26499, 26501), 0)
    out = _feed(s, 700.0, 1)  # far from anything, but the window is empty
    assert msgs(out, ComboIntent) == []
    assert s.refusals["WARMUP"] == 1


def test_dislocation_up_sells_a_buys_b_then_reversion_closes() -> None:
    s = _core()
    parity = _prime(s)
    assert msgs(_feed(s, parity + 0.5, 1000), ComboIntent) == []  # calm: no edge
    out = _feed(s, parity + 0.5 + 1.6, 1001)
    (intent,) = msgs(out, ComboIntent)
    assert intent.action == "open" and intent.direction == -1
    a, b = intent.legs
    assert (a.side, a.qty_lots, b.side, b.qty_lots) == ("S", 28, "B", 9)
    assert a.limit_px_ticks < a.expected_px_ticks  # IOC sell limit below the touch
    assert intent.edge >= intent.cost * 1.2 + 0.3
    # a second signal while the combo is pending does not fire again
    assert msgs(_feed(s, parity + 2.2, 1002), ComboIntent) == []
    s.on_combo_state(ComboState(intent.combo_id, "au-gc", "open", "complete", -1, 28, 9,
                                6.87, 1003), 1003)
    assert (s.pos_dir, s.pos_a_lots, s.pos_b_lots) == (-1, -28, 9)
    out = _feed(s, parity + 0.5, 1004)
    (close,) = msgs(out, ComboIntent)
    assert close.action == "close"
    assert [(x.side, x.qty_lots) for x in close.legs] == [("B", 28), ("S", 9)]
    s.on_combo_state(ComboState(close.combo_id, "au-gc", "close", "complete", -1, 28, 9, 6.87,
                                1005), 1005)
    assert (s.pos_dir, s.pos_a_lots, s.pos_b_lots) == (0, 0, 0)


def test_dislocation_down_buys_a() -> None:
    s = _core()
    parity = _prime(s)
    (intent,) = msgs(_feed(s, parity + 0.5 - 1.6, 2000), ComboIntent)
    assert intent.direction == 1 and intent.legs[0].side == "B" and intent.legs[1].side == "S"


def test_edge_below_costs_does_not_trade() -> None:
    s = _core()
    parity = _prime(s)
    assert msgs(_feed(s, parity + 0.5 + 0.2, 2000), ComboIntent) == []
    assert s.refusals["NO_EDGE"] >= 1


def test_thin_book_cannot_fill_the_clip() -> None:
    s = _core()
    parity = _prime(s)
    au_bid = round((parity + 2.1) / 0.02) - 1
    out = s.on_book_update(_upd("shfe", "au2606", au_bid, au_bid + 2, qty=5), 3000)
    assert msgs(out, ComboIntent) == []


def test_closed_session_blocks_new_combos() -> None:
    s = _core()
    parity = _prime(s)
    s.on_session_status(SessionStatus("comex", "GCZ6", "break", 0), 0)
    assert msgs(_feed(s, parity + 2.1, 3000), ComboIntent) == []
    assert s.refusals["CLOSED_B"] == 1


def test_flatten_closes_at_once_and_stops_opening() -> None:
    s = _core()
    parity = _prime(s)
    (intent,) = msgs(_feed(s, parity + 2.1, 3000), ComboIntent)
    s.on_combo_state(ComboState(intent.combo_id, "au-gc", "open", "complete", -1, 28, 9, 6.87,
                                3001), 3001)
    s.handle(Flatten(), 3002)
    (close,) = msgs(_feed(s, parity + 2.1, 3003), ComboIntent)  # not reverted, still closes
    assert close.action == "close"
    s.on_combo_state(ComboState(close.combo_id, "au-gc", "close", "complete", -1, 28, 9, 6.87,
                                3004), 3004)
    assert msgs(_feed(s, parity + 2.1, 3005), ComboIntent) == []


def test_combo_ids_differ_between_pairs_and_epochs() -> None:
    cfg = load_config()
    c = {f"{x.venue}:{x.sym}": x for x in cfg.contracts}
    p = cfg.pairs[0]
    ids = set()
    for epoch, idx in ((1, 0), (1, 1), (2, 0)):
        s = StrategyCore("s", p, c[p.leg_a], c[p.leg_b], c[p.fx], "combo", epoch, idx)
        parity = _prime(s)
        (intent,) = msgs(_feed(s, parity + 2.1, 5000), ComboIntent)
        ids.add(intent.combo_id)
    assert len(ids) == 3


def test_a_late_update_of_a_finished_combo_still_moves_the_position() -> None:
    s = _core()
    parity = _prime(s)
    (intent,) = msgs(_feed(s, parity + 2.1, 3000), ComboIntent)
    s.on_combo_state(ComboState(intent.combo_id, "au-gc", "open", "complete", -1, 28, 9, 6.87,
                                3001), 3001)
    # a late fill re-opened and repaired the combo: it now holds 27 lots of A
    s.on_combo_state(ComboState(intent.combo_id, "au-gc", "open", "repaired", -1, 27, 9, 0.0,
                                3002), 3002)
    assert (s.pos_a_lots, s.pos_b_lots) == (-27, 9)


# --- the optimised core against the original algorithm --------------------------------------------
#
# ``_Reference`` is StrategyCore as it was before the hot-path work: numpy copies of the levels,
# ``walk_book`` / ``parity`` Numba calls per price, ``zscore_mean_std`` + ``zscore_update`` per
# sample, holdings summed on every ComboState. The optimised core must make exactly the same
# decisions and messages, and keep the same state, on any event stream.





class _RefLeg:
    def __init__(self, cfg) -> None:
        self.cfg, self.key = cfg, f"{cfg.venue}:{cfg.sym}"
        self.tick = float(Decimal(cfg.tick))
        self.valid, self.session, self.ts_event_ns = False, "open", 0
        self.bid_px = self.bid_qty = self.ask_px = self.ask_qty = np.zeros(0, np.int64)
        self.bid_n = self.ask_n = 0

    def update(self, u) -> None:
        self.valid = u.valid
        if not u.valid:
            return
        self.ts_event_ns = u.ts_event_ns
        self.bid_px, self.bid_qty = np.asarray(u.bid_px, np.int64), np.asarray(u.bid_qty, np.int64)
        self.ask_px, self.ask_qty = np.asarray(u.ask_px, np.int64), np.asarray(u.ask_qty, np.int64)
        self.bid_n, self.ask_n = len(u.bid_px), len(u.ask_px)

    def usable(self) -> bool:
        return self.valid and self.session == "open" and self.bid_n > 0 and self.ask_n > 0


class _Reference:
    def __init__(self, pair, leg_a, leg_b, fx, epoch=1) -> None:
        self.pair = pair
        self.a, self.b = _RefLeg(leg_a), _RefLeg(leg_b)
        self.fx = _RefLeg(fx) if fx is not None else None
        la, lb, resid = best_lot_pair(leg_a.base_per_lot, leg_b.base_per_lot,
                                      pair.max_clip_lots_a, pair.max_clip_lots_b)
        self.lots_a, self.lots_b, self.residual_base = int(la), int(lb), float(resid)
        self.zbuf, self.zstate = np.zeros(pair.z_window), np.zeros(4)
        zscore_init(self.zbuf, self.zstate)
        self.samples, self.combo_seq, self.pending = 0, epoch * 1_000_000_000, None
        self.pos_dir = self.pos_a_lots = self.pos_b_lots = 0
        self.holdings: dict = {}
        self.flattening = self.halted = False
        self.refusals: dict = {}
        self.intents = 0
        self.last: dict = {}
        fee_units = leg_a.multiplier * self.lots_a
        self._fee_a = self.lots_a * leg_a.fee_per_lot / fee_units
        self._fee_b = self.lots_b * leg_b.fee_per_lot / fee_units
        self._legs = {self.a.key: self.a, self.b.key: self.b}
        if self.fx is not None:
            self._legs[self.fx.key] = self.fx

    def _refuse(self, reason):
        self.refusals[reason] = self.refusals.get(reason, 0) + 1
        return []

    def _fx_rate(self):
        if self.fx is None:
            return 1.0
        mid = (self.fx.bid_px[0] + self.fx.ask_px[0]) * 0.5 * self.fx.tick
        with np.errstate(divide="ignore"):
            return 1.0 / mid if self.pair.fx_invert else mid

    def _parity(self, p_b_ticks, fx):
        p = self.pair
        return float(parity(p_b_ticks * self.b.tick, fx, p.unit_factor, p.import_tax, p.premium))

    def handle(self, m, now_ns):
        if isinstance(m, SessionStatus):
            leg = self._legs.get(f"{m.venue}:{m.sym}")
            if leg is not None:
                leg.session = m.state
            return []
        if isinstance(m, Flatten):
            self.flattening = self.halted = True
            return []
        if isinstance(m, Halt):
            self.halted = True
            return []
        if isinstance(m, Resume):
            self.halted = self.flattening = False
            return []
        if isinstance(m, ComboState):
            if m.pair != self.pair.name:
                return []
            sign_a = 1 if m.direction > 0 else -1
            a, b = sign_a * m.filled_a_lots, -sign_a * m.filled_b_lots
            if m.action != "open":
                a, b = -a, -b
            self.holdings[m.combo_id] = (a, b)
            self.pos_a_lots = sum(h[0] for h in self.holdings.values())
            self.pos_b_lots = sum(h[1] for h in self.holdings.values())
            if m.combo_id == self.pending and m.state not in ("working", "repairing"):
                self.pending = None
                if self.pos_a_lots == 0 and self.pos_b_lots == 0:
                    self.pos_dir = 0
                    self.holdings.clear()
                elif m.action == "open":
                    self.pos_dir = m.direction
            return []
        leg = self._legs.get(f"{m.venue}:{m.sym}")
        if leg is None:
            return []
        leg.update(m)
        if leg is self.fx:
            return []
        return self._evaluate(m, now_ns)

    def _evaluate(self, u, now_ns):
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

    def _cost(self, fx):
        p = self.pair
        fees = self._fee_a + self._fee_b * fx
        slip = p.slippage_ticks * (self.a.tick + self.b.tick * fx * p.unit_factor)
        return 2.0 * (fees + slip)

    def _maybe_open(self, u, fx, fair, z, now_ns):
        p, a, b = self.pair, self.a, self.b
        la, lb = self.lots_a, self.lots_b
        bid_a, fa_b, wba = walk_book(a.bid_px, a.bid_qty, a.bid_n, la)
        ask_a, fa_a, waa = walk_book(a.ask_px, a.ask_qty, a.ask_n, la)
        bid_b, fb_b, wbb = walk_book(b.bid_px, b.bid_qty, b.bid_n, lb)
        ask_b, fb_a, wab = walk_book(b.ask_px, b.ask_qty, b.ask_n, lb)
        cost = self._cost(fx)
        need = cost * p.safety_factor + p.min_edge
        sell = float(bid_a) * a.tick - self._parity(float(ask_b), fx)
        buy = float(ask_a) * a.tick - self._parity(float(bid_b), fx)
        if fa_b >= la and fb_a >= lb and sell - fair >= need and z >= p.z_entry:
            legs = [LegSpec(a.cfg.venue, a.cfg.sym, "S", la, int(wba) - p.max_slippage_ticks,
                            float(bid_a)),
                    LegSpec(b.cfg.venue, b.cfg.sym, "B", lb, int(wab) + p.max_slippage_ticks,
                            float(ask_b))]
            return self._intent("open", -1, legs, sell, fair, z, sell - fair, cost, u, now_ns)
        if fa_a >= la and fb_b >= lb and fair - buy >= need and z <= -p.z_entry:
            legs = [LegSpec(a.cfg.venue, a.cfg.sym, "B", la, int(waa) + p.max_slippage_ticks,
                            float(ask_a)),
                    LegSpec(b.cfg.venue, b.cfg.sym, "S", lb, int(wbb) - p.max_slippage_ticks,
                            float(bid_b))]
            return self._intent("open", 1, legs, buy, fair, z, fair - buy, cost, u, now_ns)
        return self._refuse("NO_EDGE")

    def _maybe_close(self, u, fx, fair, z, now_ns):
        p, a, b = self.pair, self.a, self.b
        reverted = (self.pos_dir < 0 and z <= p.z_exit) or (self.pos_dir > 0 and z >= -p.z_exit)
        if not (reverted or self.flattening):
            return []
        la, lb = abs(self.pos_a_lots), abs(self.pos_b_lots)
        slip = p.max_slippage_ticks * (3 if self.flattening else 1)
        legs = []
        ea = walk_book(a.bid_px, a.bid_qty, a.bid_n, la) if self.pos_a_lots > 0 else \
            walk_book(a.ask_px, a.ask_qty, a.ask_n, la)
        eb = walk_book(b.bid_px, b.bid_qty, b.bid_n, lb) if self.pos_b_lots > 0 else \
            walk_book(b.ask_px, b.ask_qty, b.ask_n, lb)
        if la:
            side = "S" if self.pos_a_lots > 0 else "B"
            lim = int(ea[2]) + (-slip if side == "S" else slip)
            legs.append(LegSpec(a.cfg.venue, a.cfg.sym, side, la, lim, float(ea[0])))
        if lb:
            side = "S" if self.pos_b_lots > 0 else "B"
            lim = int(eb[2]) + (-slip if side == "S" else slip)
            legs.append(LegSpec(b.cfg.venue, b.cfg.sym, side, lb, lim, float(eb[0])))
        if not legs:
            self.pos_dir = 0
            return []
        spread = float(ea[0]) * a.tick - self._parity(float(eb[0]), fx) if la and lb else 0.0
        return self._intent("close", self.pos_dir, legs, spread, fair, z, 0.0, self._cost(fx),
                            u, now_ns)

    def _intent(self, action, direction, legs, spread, mean, z, edge, cost, u, now_ns):
        self.combo_seq += 1
        self.pending = self.combo_seq
        self.intents += 1
        return [("combo", ComboIntent(self.combo_seq, self.pair.name, action, direction, legs,
                                      spread, mean, z, edge, cost, self.residual_base,
                                      u.ts_event_ns, u.ts_recv_ns, u.ts_book_ns, now_ns))]


def _pair_variant(rng: random.Random):
    cfg = load_config()
    c = {f"{x.venue}:{x.sym}": x for x in cfg.contracts}
    p = msgspec.structs.replace(
        cfg.pairs[0],
        z_window=rng.choice([10, 20]),
        z_entry=rng.choice([0.0, 0.5, 1.5]),
        z_exit=rng.choice([0.0, 0.5]),
        fair_basis=rng.choice([None, None, 0.5, -50.0]),
        min_edge=rng.choice([0.0, 0.3]),
        premium=rng.choice([0.0, 0.25]),
        import_tax=rng.choice([0.0, 0.13]),
        fx_invert=rng.random() < 0.2,
        max_clip_lots_a=rng.choice([3, 30]),
        max_quote_skew_ms=rng.choice([1, 500]),
        retry_cooldown_ms=0,  # the original algorithm retried at once after a failed combo
        # the monitoring closes came later (tests/actors/strategy/test_strategy_parity.py)
        deviation_close_sigma=0.0,
        close_on_limit=False,
    )
    fx = c[p.fx] if rng.random() < 0.85 else None
    return p, c[p.leg_a], c[p.leg_b], fx


def _events(rng: random.Random, n: int, pair) -> list:
    """A random event stream: books near parity with dislocations, sessions, controls and
    ComboStates for the pending combo (or an older one). A frozen stream keeps every price
    still, so the spread is constant and z is exactly 0 (the boundary of ``z_entry = 0``)."""
    gc_mid, fx_mid, basis = 26_500, 72_000, 0.5
    frozen = rng.random() < 0.25
    out = []
    ts = 0
    for _ in range(n):
        ts += rng.choice([1, 1_000_000, 3_000_000])
        r = rng.random()
        if r < 0.75:
            if not frozen:
                gc_mid += rng.randint(-2, 2)
                fx_mid += rng.randint(-3, 3)
            which = rng.choice(["A", "A", "B", "FX"])
            if which == "A":
                par = gc_mid * 0.1 * fx_mid * 0.0001 / 31.1034768 + basis
                jump = 0 if frozen else rng.choice([0, 0, 0, 1, -1, 60, -60])
                mid = round(par / 0.02) + jump
                venue, sym = "shfe", "au2606"
            elif which == "B":
                mid, venue, sym = gc_mid, "comex", "GCZ6"
            else:
                mid, venue, sym = fx_mid, "fx", "USDCNH"
            nb, na = rng.choice([0, 1, 2, 2, 3]), rng.choice([0, 1, 2, 2, 3])
            bids = [mid - 1 - i for i in range(nb)]
            asks = [mid + 1 + i for i in range(na)]
            qty = [rng.choice([1, 5, 40, 100]) for _ in range(6)]
            out.append(BookUpdate(venue, sym, rng.random() > 0.03, ts, ts, ts, bids, qty[:nb],
                                  asks, qty[3:3 + na]))
        elif r < 0.8:
            out.append(SessionStatus(rng.choice(["shfe", "comex", "fx"]),
                                     rng.choice(["au2606", "GCZ6", "USDCNH"]),
                                     rng.choice(["open", "open", "break"]), ts))
        elif r < 0.83:
            out.append(rng.choice([Flatten(), Halt(), Resume(), Resume()]))
        else:
            out.append(("state", rng.choice(["working", "complete", "failed", "repaired",
                                              "repairing"]),
                        rng.randint(0, 30), rng.randint(0, 10), rng.random() < 0.8))
    return out


def _run_both(seed: int, n: int) -> int:
    rng = random.Random(seed)
    p, la, lb, fx = _pair_variant(rng)
    new = StrategyCore("strategy.au-gc", p, la, lb, fx, "combo", 1)
    ref = _Reference(p, la, lb, fx)
    intents = 0
    last_intent = None
    for ev in _events(rng, n, p):
        if isinstance(ev, tuple):  # a ComboState for the pending combo (or the last one)
            _, state, fa, fb, pending = ev
            cid = new.pending if pending and new.pending is not None else (
                last_intent.combo_id if last_intent is not None else 1)
            action = last_intent.action if last_intent is not None else "open"
            direction = last_intent.direction if last_intent is not None else 1
            ev = ComboState(cid, p.name, action, state, direction, fa, fb, 0.0, 0)
        got, want = new.handle(ev, 5), ref.handle(ev, 5)
        got = [(d, m) for d, m in got if d != "journal"]  # refusal records: tested on their own
        assert [(d, encode(m)) for d, m in got] == [(d, encode(m)) for d, m in want], ev
        for _, m in got:
            intents += 1
            last_intent = m
        assert new.refusals == ref.refusals
        assert (new.pos_dir, new.pos_a_lots, new.pos_b_lots, new.pending, new.samples) == \
            (ref.pos_dir, ref.pos_a_lots, ref.pos_b_lots, ref.pending, ref.samples)
        assert new.holdings == ref.holdings
        assert new.last.keys() == ref.last.keys()
        for k in ref.last:
            a, b = new.last[k], float(ref.last[k])
            assert a == b or (np.isnan(a) and np.isnan(b)), k
        assert np.array_equal(new.zstate, ref.zstate, equal_nan=True)
    return intents


def test_same_decisions_and_messages_as_the_original_algorithm() -> None:
    intents = sum(_run_both(seed, 600) for seed in range(40))
    assert intents > 100  # the streams do trade: opens, closes and flattens are compared


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_same_decisions_on_random_streams(seed: int) -> None:
    _run_both(seed, 250)


@settings(max_examples=300, deadline=None)
@given(
    levels=st.lists(
        st.tuples(st.one_of(st.integers(1, 100_000), st.integers(1, 2**62)), st.integers(-3, 60)),
        max_size=5,
    ),
    clip=st.integers(-2, 120),
)
def test_walk_levels_is_walk_book_bit_for_bit(levels, clip) -> None:
    px = [p for p, _ in levels]
    qty = [q for _, q in levels]
    arr_px, arr_qty = np.asarray(px, np.int64), np.asarray(qty, np.int64)
    got = walk_levels(px, qty, clip)
    for want in (walk_book(arr_px, arr_qty, len(px), clip),
                 walk_book.py_func(arr_px, arr_qty, len(px), clip)):
        assert got[1:] == (int(want[1]), int(want[2]))
        assert np.float64(got[0]).tobytes() == np.float64(want[0]).tobytes()
        assert type(got[0]) is float and type(got[1]) is int and type(got[2]) is int


@settings(max_examples=300, deadline=None)
@given(
    p_b=st.floats(1.0, 1e6),
    fx=st.floats(1e-3, 1e3),
    tax=st.floats(0.0, 1.0),
    premium=st.floats(-100.0, 100.0),
    invert=st.booleans(),
)
def test_inline_parity_is_the_parity_kernel_bit_for_bit(p_b, fx, tax, premium, invert) -> None:
    cfg = load_config()
    c = {f"{x.venue}:{x.sym}": x for x in cfg.contracts}
    p = msgspec.structs.replace(cfg.pairs[0], import_tax=tax, premium=premium, fx_invert=invert)
    s = StrategyCore("s", p, c[p.leg_a], c[p.leg_b], c[p.fx], "combo", 1)
    want = parity(p_b * s.b.tick, fx, p.unit_factor, p.import_tax, p.premium)
    assert np.float64(s._parity(p_b, fx)).tobytes() == np.float64(want).tobytes()
    assert np.float64(s._cost(fx)).tobytes() == np.float64(_Reference(
        p, c[p.leg_a], c[p.leg_b], c[p.fx])._cost(fx)).tobytes()


@pytest.mark.parametrize("px", [2**53 + 1, 2**53 + 3, 3 * 2**52 + 1, 2**62 - 1, 2**61 + 5])
@pytest.mark.parametrize("take", [3, 7, 60])
def test_walk_levels_rounds_like_the_kernel_beyond_2_53(px, take) -> None:
    """Where ``float(take) * float(px)`` and the exact product round differently, the Python
    walk must round like the kernel (float factors), not like integer arithmetic."""
    for levels in ([(px, take)], [(px, 1), (px - 1, take)]):
        p, q = [x for x, _ in levels], [y for _, y in levels]
        want = walk_book(np.asarray(p, np.int64), np.asarray(q, np.int64), len(p), take + 1)
        got = walk_levels(p, q, take + 1)
        assert np.float64(got[0]).tobytes() == np.float64(want[0]).tobytes()
        assert got[1:] == (int(want[1]), int(want[2]))


# --- trading state, cooldown, feed health, calendars, journal, live parameters ---------------


def _at(s: StrategyCore, au_mid_cny: float, now: int, ts: int = 1000) -> list:
    """A leg-A quote stamped ``ts`` in venue time, handled at ``now`` (our time)."""
    au_bid = round(au_mid_cny / 0.02) - 1
    return s.on_book_update(_upd("shfe", "au2606", au_bid, au_bid + 2, ts=ts), now)


def _journal(out: list) -> list[tuple[str, str]]:
    return [(m.what, m.detail) for d, m in out if d == "journal" and isinstance(m, Decision)]


def _health(venue: str, state: str = "SYNCED", offset: int = 0) -> FeedHealth:
    return FeedHealth(venue, state, 0, 0, 0, 0, 0, 0, clock_offset_ns=offset)


def _open(s: StrategyCore, parity: float, now: int) -> ComboIntent:
    (intent,) = msgs(_at(s, parity + 2.1, now), ComboIntent)
    return intent


def _done(s: StrategyCore, intent: ComboIntent, state: str, now: int) -> None:
    fa, fb = (28, 9) if state != "failed" else (0, 0)
    s.on_combo_state(ComboState(intent.combo_id, "au-gc", intent.action, state,
                                intent.direction, fa, fb, 0.0, now), now)


def test_reducing_blocks_opens_but_not_closes() -> None:
    s = _core()
    parity = _prime(s)
    intent = _open(s, parity, 1000)
    _done(s, intent, "complete", 1001)
    s.handle(TradingState("REDUCING", "margin", 1002), 1002)
    (close,) = msgs(_at(s, parity + 0.5, 1003), ComboIntent)
    assert close.action == "close"
    _done(s, close, "complete", 1004)
    assert s.pos_dir == 0
    out = _at(s, parity + 2.1, 1005)
    assert msgs(out, ComboIntent) == [] and s.refusals["REDUCING"] == 1
    assert ("refuse", "REDUCING") in _journal(out)
    s.handle(TradingState("ACTIVE", "", 1006), 1006)
    assert msgs(_at(s, parity + 2.1, 1007), ComboIntent)


def test_halted_blocks_opens_and_closes_but_a_flatten_command_still_closes() -> None:
    s = _core()
    parity = _prime(s)
    s.handle(TradingState("HALTED", "loss", 999), 999)
    assert msgs(_at(s, parity + 2.1, 1000), ComboIntent) == []
    assert s.refusals["HALTED"] == 1
    s.handle(TradingState("ACTIVE", "", 1001), 1001)
    intent = _open(s, parity, 1002)
    _done(s, intent, "complete", 1003)
    s.handle(TradingState("HALTED", "loss", 1004), 1004)
    assert msgs(_at(s, parity + 0.5, 1005), ComboIntent) == []  # reverted, but no close
    assert s.refusals["HALTED"] == 2
    s.handle(Flatten("risk"), 1006)
    (close,) = msgs(_at(s, parity + 0.5, 1007), ComboIntent)
    assert close.action == "close"


def test_failed_combo_cools_down_doubling_and_success_resets() -> None:
    s = _core()
    parity = _prime(s)
    sec = 1_000_000_000
    t = 10 * sec
    intent = _open(s, parity, t)
    _done(s, intent, "failed", t)
    # the very next tick does not fire again
    for dt in (1, sec // 2, sec - 1):
        assert msgs(_at(s, parity + 2.1, t + dt), ComboIntent) == []
    assert s.refusals["COOLDOWN"] == 3
    intent = _open(s, parity, t + sec)  # 1 s later
    _done(s, intent, "failed", t + sec)
    assert msgs(_at(s, parity + 2.1, t + 3 * sec - 1), ComboIntent) == []  # now 2 s
    intent = _open(s, parity, t + 3 * sec)
    _done(s, intent, "failed", t + 3 * sec)
    assert s.cooldown_until_ns == t + 7 * sec  # 4 s
    for _ in range(10):
        s.guard.fail_streak += 1
    intent = _open(s, parity, t + 7 * sec)
    _done(s, intent, "failed", t + 7 * sec)
    assert s.cooldown_until_ns == t + 37 * sec  # capped at 30 s
    intent = _open(s, parity, t + 37 * sec)
    _done(s, intent, "complete", t + 37 * sec)
    assert (s.fail_streak, s.cooldown_until_ns) == (0, 0)


def test_a_failed_combo_that_is_not_pending_does_not_cool_down() -> None:
    s = _core()
    parity = _prime(s)
    intent = _open(s, parity, 1000)
    s.on_combo_state(ComboState(intent.combo_id + 7, "au-gc", "open", "failed", -1, 0, 0, 0.0,
                                1001), 1001)
    assert s.cooldown_until_ns == 0


def test_skew_is_measured_in_our_time_with_each_venues_clock_offset() -> None:
    s = _core()
    parity = _prime(s)  # B quoted at venue time 0
    ms = 1_000_000
    s.handle(_health("shfe", offset=600 * ms), 1000)  # shfe's clock runs 600 ms ahead
    out = _at(s, parity + 2.1, 1000, ts=1000)  # 600 ms before B in our time
    assert msgs(out, ComboIntent) == [] and s.refusals["SKEW"] == 1
    # far apart in venue time, together in ours
    out = _at(s, parity + 2.1, 1001, ts=600 * ms + 1000)
    assert msgs(out, ComboIntent)
    assert s.snapshot()["feeds"]["shfe:au2606"] == ["SYNCED", 600 * ms]


def test_no_open_on_a_quote_older_than_max_quote_age_in_our_time() -> None:
    """A node that was frozen reads old frames with a fresh clock: the quote's own time (venue
    time less the venue's clock offset) must be recent, or nothing opens (issue 12)."""
    ms = 1_000_000
    s = _core(max_quote_age_ms=2000)
    parity = _prime(s)  # B quoted at venue time 0
    out = _at(s, parity + 2.1, 2100 * ms, ts=0)  # both quotes from t=0, handled 2.1 s later
    assert msgs(out, ComboIntent) == [] and s.refusals["STALE_QUOTE"] == 1
    fresh = _core(max_quote_age_ms=2000)
    parity = _prime(fresh)
    assert msgs(_at(fresh, parity + 2.1, 1900 * ms, ts=0), ComboIntent)  # 1.9 s: within


def test_quote_age_counts_in_our_time_with_each_venues_clock_offset() -> None:
    ms = 1_000_000
    s = _core(max_quote_age_ms=2000)
    parity = _prime(s)
    s.handle(_health("comex", offset=-500 * ms), 0)  # comex's clock runs 500 ms behind ours
    s.on_book_update(_upd("comex", "GCZ6", 26499, 26501, ts=1600 * ms), 4000 * ms)  # ours: 2.1 s
    out = _at(s, parity + 2.1, 4000 * ms, ts=2100 * ms)  # both 1.9 s old in our time
    assert msgs(out, ComboIntent), s.refusals  # in venue time B would be 2.4 s old


def test_quote_age_is_a_live_parameter() -> None:
    ms = 1_000_000
    s = _core(max_quote_age_ms=2000)
    parity = _prime(s)
    s.handle(_set(max_quote_age_ms=5000), 0)
    out = _at(s, parity + 2.1, 3000 * ms, ts=0)  # 3 s old: within the new 5 s
    assert msgs(out, ComboIntent), s.refusals


@pytest.mark.parametrize("state", ["STALE", "RESYNCING"])
def test_a_feed_that_is_not_synced_refuses_with_its_state(state: str) -> None:
    s = _core()
    parity = _prime(s)
    s.handle(_health("comex", state), 1000)
    out = _at(s, parity + 2.1, 1000)
    assert msgs(out, ComboIntent) == [] and s.refusals[state] == 1
    assert _journal(out) == [("refuse", state)]
    s.handle(_health("comex", "SYNCED"), 1001)
    assert msgs(_at(s, parity + 2.1, 1002), ComboIntent)


_CAL = b"""
[calendars.half]
tz = "UTC"
days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
sessions = [{start = "00:00", end = "12:00"}]
"""
_MON = 1_767_571_200_000_000_000  # 2026-01-05T00:00Z, a Monday
_H = 3_600_000_000_000


def _cal_core(venue: str = "comex") -> StrategyCore:
    cfg = load_config()
    c = {f"{x.venue}:{x.sym}": x for x in cfg.contracts}
    p = msgspec.structs.replace(cfg.pairs[0], max_quote_age_ms=10**13)  # as ``_core``
    cals = {venue: parse_calendars(_CAL)["half"]}
    return StrategyCore("strategy.au-gc", p, c[p.leg_a], c[p.leg_b], c[p.fx], "combo", 1,
                        calendars=cals)


def test_no_open_unless_every_leg_stays_open_for_the_hedge_budget() -> None:
    s = _cal_core()
    parity = _prime(s)
    budget = s.pair.hedge_budget_ms * 1_000_000
    assert msgs(_at(s, parity + 2.1, _MON + 13 * _H), ComboIntent) == []  # closed
    assert s.refusals["CLOSED"] == 1
    end = _MON + 12 * _H
    assert msgs(_at(s, parity + 2.1, end - budget + 1), ComboIntent) == []  # closes too soon
    assert s.refusals["CLOSED"] == 2
    assert msgs(_at(s, parity + 2.1, end - budget), ComboIntent)  # exactly the budget left


def test_calendar_verdicts_follow_the_clock_and_the_budget() -> None:
    s = _cal_core()
    parity = _prime(s)
    assert msgs(_at(s, parity + 2.1, _MON + 13 * _H), ComboIntent) == []
    assert msgs(_at(s, parity + 2.1, _MON + 24 * _H + 1), ComboIntent)  # Tuesday's open
    s2 = _cal_core("shfe")
    _prime(s2)
    s2.handle(_set(hedge_budget_ms=7200000), 0)  # 2 h
    assert msgs(_at(s2, parity + 2.1, _MON + 11 * _H), ComboIntent) == []
    assert s2.refusals["CLOSED"] == 1
    s2.handle(_set(hedge_budget_ms=1000), 0)
    assert msgs(_at(s2, parity + 2.1, _MON + 11 * _H + 1), ComboIntent)


def test_gateway_session_status_overrides_the_calendar() -> None:
    s = _cal_core()
    parity = _prime(s)
    s.on_session_status(SessionStatus("comex", "GCZ6", "open", 0), 0)
    assert msgs(_at(s, parity + 2.1, _MON + 13 * _H), ComboIntent)  # the gateway says open
    s = _cal_core()
    _prime(s)
    s.on_session_status(SessionStatus("comex", "GCZ6", "halt", 0), 0)
    assert msgs(_at(s, parity + 2.1, _MON + 6 * _H), ComboIntent) == []  # calendar open
    assert s.refusals["CLOSED_B"] == 1


def test_refusals_are_journaled_when_the_reason_changes_and_counted_always() -> None:
    s = _core()
    parity = _prime(s)
    no_edge = s.refusals["NO_EDGE"]  # the last reason of the warm-up, journaled then
    journal = []
    s.handle(TradingState("REDUCING", "", 2000), 2000)
    for i in range(3):
        journal += _journal(_at(s, parity + 0.5, 2001 + i))
    s.handle(TradingState("ACTIVE", "", 2010), 2010)
    for i in range(5):
        journal += _journal(_at(s, parity + 0.5, 2011 + i))
    assert journal == [("refuse", "REDUCING"), ("refuse", "NO_EDGE")]
    assert s.refusals["REDUCING"] == 3 and s.refusals["NO_EDGE"] == no_edge + 5
    # after a decision the next refusal is journaled again, whatever it is
    intent = _open(s, parity, 2020)
    _done(s, intent, "failed", 2021)
    out = _at(s, parity + 2.1, 2022)
    assert [(d, m) for d, m in out] == [("journal", Decision(s.name, "refuse", "COOLDOWN", 2022))]
    out = _at(s, parity + 2.1, 2023)
    assert out == [] and s.refusals["COOLDOWN"] == 2


def test_set_changes_thresholds_at_once() -> None:
    s = _core()
    parity = _prime(s)
    need = s._need_fx
    out = s.handle(_set(min_edge=100.0, safety_factor=2), 5)
    assert _journal(out) == [("set", '{"min_edge":100.0,"safety_factor":2}')]
    assert s.pair.min_edge == 100.0 and s.pair.safety_factor == 2.0
    assert s._need_fx == pytest.approx(s._cost_fx * 2.0 + 100.0) and s._need_fx != need
    assert msgs(_at(s, parity + 2.1, 1000), ComboIntent) == []
    assert s.refusals["NO_EDGE"] >= 1
    s.handle(_set(min_edge=0.0, safety_factor=1.2, z_entry=1e9), 6)
    assert s._z_entry == 1e9
    assert msgs(_at(s, parity + 2.1, 1001), ComboIntent) == []
    s.handle(_set(z_entry=2.0, max_quote_skew_ms=1), 7)
    assert s._skew_ns == 1_000_000
    assert msgs(_at(s, parity + 2.1, 1002, ts=2_000_000), ComboIntent) == []
    assert s.refusals["SKEW"] == 1
    s.handle(_set(max_quote_skew_ms=500, retry_cooldown_ms=0), 8)
    intent = _open(s, parity, 1003)
    _done(s, intent, "failed", 1003)
    assert s.cooldown_until_ns == 0  # cooldown off
    assert msgs(_at(s, parity + 2.1, 1004), ComboIntent)


def _set(section: str = "pairs.au-gc", **values: object) -> SetParams:
    return SetParams(section, dict(values))


@pytest.mark.parametrize(("msg", "names"), [
    (_set(safety_factor=0.5), "safety_factor"),
    (_set(z_entry=-1), "z_entry"),
    (_set(z_exit="x"), "z_exit"),
    (_set(z_exit=3.0), "must be below z_entry"),
    (_set(retry_cooldown_ms=60000), "retry_cooldown_ms"),
    (_set(max_quote_skew_ms=0), "max_quote_skew_ms"),
    (_set(z_window=50), "z_window"),
    (_set(bogus=1), "bogus"),
    (_set(z_entry=3.0, max_quote_skew_ms=0), "max_quote_skew_ms"),  # one bad: none applied
    (_set("pairs.other", z_entry=3.0), "not this strategy's pair"),
    (_set("risk", z_entry=3.0), "not this strategy's pair"),
    (_set(), "no field"),
])
def test_set_rejects_bad_values_naming_the_field(msg: SetParams, names: str) -> None:
    s = _core()
    before = (s.pair, s._z_entry, s._need_fx, s._skew_ns, s._cooldown_ns)
    out = s.handle(msg, 5)
    ((what, detail),) = _journal(out)
    assert what == "set_rejected" and names in detail
    assert (s.pair, s._z_entry, s._need_fx, s._skew_ns, s._cooldown_ns) == before


def test_set_params_values_that_are_not_a_map_do_not_decode() -> None:
    from transports.wire.codec import msg_codec

    frame = msgspec.msgpack.encode(["SetParams", "pairs.au-gc", [1]])
    with pytest.raises(Exception, match="Expected `object`"):
        msg_codec.decode(frame)


def test_a_set_as_the_admin_sends_it_rebuilds_the_cached_thresholds() -> None:
    s = _core()
    parity = _prime(s)
    s.handle(_set(min_edge=100.0, max_quote_skew_ms=7), 5)
    assert s._need_fx == pytest.approx(s._cost_fx * s.pair.safety_factor + 100.0)
    assert s._skew_ns == 7_000_000
    assert s.snapshot()["params"]["min_edge"] == 100.0
    assert msgs(_at(s, parity + 2.1, 1000), ComboIntent) == []
    s.handle(_set(z_window=50), 6)
    assert s.pair.z_window != 50


def test_set_decisions_go_to_the_journal_the_topology_names() -> None:
    from actors.topology import Topology

    cfg = load_config()
    c = {f"{x.venue}:{x.sym}": x for x in cfg.contracts}
    p = cfg.pairs[0]
    s = StrategyCore("strategy.au-gc", p, c[p.leg_a], c[p.leg_b], c[p.fx], "combo", 1,
                     topo=Topology(journal="jrnl"))
    out = s.handle(_set(z_entry=2.5), 1) + s.handle(_set(z_entry=-1.0), 2)
    assert [(d, m.what) for d, m in out] == [("jrnl", "set"), ("jrnl", "set_rejected")]
    assert s.pair.z_entry == 2.5 and s._z_entry == 2.5

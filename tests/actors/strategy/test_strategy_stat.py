"""StatPairCore on hand-made series and books: warm-up, the Engle-Granger gate, the half-life
gate, entries on z with beta-weighted lots, exits on revert, stops on z_stop and max_hold,
flatten, and live SetParams of ``stat.*`` fields."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

from actors.strategy.kinds import build_strategy
from actors.strategy.stat import StatPairCore
from transports.config.engine import load_config
from transports.wire.messages import (
    BookUpdate,
    ComboIntent,
    ComboState,
    Decision,
    Flatten,
    SessionStatus,
    SetParams,
)

CONF = "conf/scenarios/stat-arb.toml"
STEP_NS = 20_000_000  #: one sample per refresh of both legs
ALPHA, BETA = 2.8128, 0.8
TICK_A, TICK_B = 1.0, 0.5


def _core(**stat) -> StatPairCore:
    cfg = load_config(CONF)
    p = cfg.pairs[0]
    sv = {"coint_window": 150, "coint_every_s": 2.0, "max_half_life_s": 5.0, "z_stop": 60.0,
          "max_hold_s": 10.0, "sample_ms": 20, **stat}
    p = msgspec.structs.replace(p, z_window=150, max_quote_age_ms=10**13,
                                stat=msgspec.structs.replace(p.stat, **sv))
    contracts = {f"{c.venue}:{c.sym}": c for c in cfg.contracts}
    core = build_strategy("strategy.rb-i", p, contracts, "combo", 1, 0)
    assert isinstance(core, StatPairCore)
    return core


def _book(venue: str, sym: str, mid_px: float, tick: float, ts: int, qty: int = 200
          ) -> BookUpdate:
    bid = math.floor(mid_px / tick)
    return BookUpdate(venue, sym, True, ts, ts, ts, [bid, bid - 1, bid - 2], [qty] * 3,
                      [bid + 1, bid + 2, bid + 3], [qty] * 3)


class Feed:
    """Drives a core with a price series: each step updates B then A, 20 ms apart."""

    def __init__(self, core: StatPairCore, seed: int = 1, coint: bool = True) -> None:
        self.core = core
        self.rng = np.random.default_rng(seed)
        self.t = 1_000_000_000
        self.ln_b = math.log(800.0)
        self.u = 0.0
        self.ln_a_own = ALPHA + BETA * self.ln_b  # the independent walk (coint=False)
        self.coint = coint
        self.out: list = []

    def step(self, disl_bps: float = 0.0, n: int = 1) -> list:
        out = []
        for _ in range(n):
            self.t += STEP_NS
            self.ln_b += self.rng.normal(0.0, 0.0003)
            self.u = 0.9 * self.u + self.rng.normal(0.0, 0.0001)
            if self.coint:
                ln_a = ALPHA + BETA * self.ln_b + self.u
            else:
                self.ln_a_own += self.rng.normal(0.0, 0.0003)
                ln_a = self.ln_a_own
            ln_a += disl_bps * 1e-4
            c = self.core
            out += c.on_book_update(_book("dce", "i2609", math.exp(self.ln_b), TICK_B, self.t),
                                    self.t)
            out += c.on_book_update(_book("shfe", "rb2610", math.exp(ln_a), TICK_A, self.t),
                                    self.t)
        self.out += out
        return out

    def warm(self) -> None:
        self.step(n=450)


def _intents(out: list) -> list[ComboIntent]:
    return [m for _, m in out if isinstance(m, ComboIntent)]


def _complete(core: StatPairCore, i: ComboIntent, t: int) -> None:
    la = next(x.qty_lots for x in i.legs if x.venue == "shfe")
    lb = next(x.qty_lots for x in i.legs if x.venue == "dce")
    core.on_combo_state(ComboState(i.combo_id, "rb-i", i.action, "complete", i.direction, la, lb,
                                   0.0, t), t)


def _open(f: Feed, disl_bps: float = 60.0) -> ComboIntent:
    f.warm()
    opens = _intents(f.step(disl_bps))
    assert len(opens) == 1, f.core.snapshot()["refusals"]
    _complete(f.core, opens[0], f.t)
    return opens[0]


def test_warmup_then_cointegrated_and_quiet() -> None:
    f = Feed(_core())
    out = f.step(n=100)
    assert not _intents(out)
    snap = f.core.snapshot()
    assert snap["refusals"].get("WARMUP", 0) > 0 and snap["stat"]["tests"] == 0
    f.step(n=350)
    snap = f.core.snapshot()
    assert snap["stat"]["tests"] >= 1 and snap["stat"]["pvalue"] < 0.05
    assert 0 < snap["stat"]["half_life_s"] < 5.0
    assert not _intents(f.out)  # noise alone never beats the costs
    assert snap["pending"] is None and snap["pos_dir"] == 0


def test_enters_short_spread_when_a_is_rich() -> None:
    f = Feed(_core())
    f.warm()
    opens = _intents(f.step(60.0))
    assert len(opens) == 1
    i = opens[0]
    assert f.core.snapshot()["pending"] == i.combo_id
    assert not _intents(f.step(60.0, n=3))  # one combo in flight at a time
    assert i.action == "open" and i.direction == -1 and i.z >= 4.0
    legs = {x.venue: x for x in i.legs}
    assert legs["shfe"].side == "S" and legs["dce"].side == "B"
    la, lb = legs["shfe"].qty_lots, legs["dce"].qty_lots
    assert la == 20
    # B's notional is beta times A's: 20 lots x 10 t x ~3500 x beta / (100 t x ~800)
    beta = f.core.snapshot()["stat"]["beta"]
    pa, pb = math.exp(ALPHA + BETA * f.ln_b), math.exp(f.ln_b)
    assert lb == max(1, round(beta * la * 10 * pa / (100 * pb)))
    # the IOC limits: worst level -/+ max_slippage_ticks; expected = the walked VWAP
    assert legs["shfe"].limit_px_ticks == legs["shfe"].expected_px_ticks - 3
    assert i.edge > i.cost


def test_enters_long_spread_when_a_is_cheap() -> None:
    f = Feed(_core())
    i = _open(f, -60.0)
    legs = {x.venue: x for x in i.legs}
    assert i.direction == 1 and legs["shfe"].side == "B" and legs["dce"].side == "S"


def test_small_dislocation_does_not_beat_costs() -> None:
    f = Feed(_core())
    f.warm()
    out = f.step(8.0, n=5)  # many sigmas, but under the round-trip cost
    assert not _intents(out)
    assert f.core.snapshot()["refusals"].get("NO_EDGE", 0) > 0


def test_refuses_when_not_cointegrated() -> None:
    f = Feed(_core(), seed=5, coint=False)
    f.warm()
    out = f.step(80.0, n=5)
    assert not _intents(out)
    snap = f.core.snapshot()
    assert snap["stat"]["tests"] >= 1
    assert snap["refusals"].get("NOT_COINTEGRATED", 0) > 0
    assert any(isinstance(m, Decision) and m.detail == "NOT_COINTEGRATED" for _, m in f.out)


def test_refuses_on_half_life_and_live_set_params_takes_effect() -> None:
    core = _core()
    f = Feed(core)
    f.warm()
    hl = core.snapshot()["stat"]["half_life_s"]
    out = core.on_set_params(SetParams("pairs.rb-i", {"stat.max_half_life_s": hl / 2}), f.t)
    assert any(isinstance(m, Decision) and m.what == "set" for _, m in out)
    assert not _intents(f.step(60.0, n=3))
    assert core.snapshot()["refusals"].get("HALF_LIFE", 0) > 0
    assert core.snapshot()["params"]["stat.max_half_life_s"] == hl / 2
    core.on_set_params(SetParams("pairs.rb-i", {"stat.max_half_life_s": 5.0}), f.t)
    assert len(_intents(f.step(60.0))) == 1


def test_set_params_rejects_a_bad_value_whole() -> None:
    core = _core()
    out = core.on_set_params(SetParams("pairs.rb-i", {"stat.delta": 2.0, "z_entry": 5.0}), 1)
    assert any(isinstance(m, Decision) and m.what == "set_rejected" for _, m in out)
    assert core.pair.z_entry == 4.0 and core.pair.stat.delta == 1e-12


def test_live_coint_window_resizes_and_keeps_testing() -> None:
    core = _core()
    f = Feed(core)
    f.warm()
    core.on_set_params(SetParams("pairs.rb-i", {"stat.coint_window": 100,
                                                "stat.coint_every_s": 0.1}), f.t)
    tests = core.snapshot()["stat"]["tests"]
    f.step(n=10)
    snap = core.snapshot()["stat"]
    assert snap["test_window"] == 100 and snap["tests"] > tests and snap["pvalue"] < 0.05


def test_exits_when_the_spread_reverts() -> None:
    f = Feed(_core())
    i = _open(f, 60.0)
    assert not _intents(f.step(60.0, n=5))  # still dislocated: hold
    out = f.step(0.0)
    closes = _intents(out)
    assert len(closes) == 1 and closes[0].action == "close"
    legs = {x.venue: x for x in closes[0].legs}
    assert legs["shfe"].side == "B" and legs["dce"].side == "S"  # against the position
    assert legs["shfe"].qty_lots == 20 and legs["dce"].qty_lots == i.legs[1].qty_lots
    _complete(f.core, closes[0], f.t)
    snap = f.core.snapshot()
    assert snap["pos_dir"] == 0 and snap["pending"] is None and snap["pos_a_lots"] == 0


def test_stops_when_z_breaks_beyond_z_stop() -> None:
    core = _core(z_stop=40.0)
    f = Feed(core)
    _open(f, 60.0)
    out = f.step(400.0)  # the pair broke
    closes = _intents(out)
    assert len(closes) == 1 and closes[0].action == "close"
    assert any(isinstance(m, Decision) and m.what == "stop" and "z_stop" in m.detail
               for _, m in out)
    _complete(core, closes[0], f.t)
    # no re-entry while broken, nor after (stopped) until the spread is back inside z_exit
    assert not _intents(f.step(400.0, n=3))
    assert core.snapshot()["refusals"].get("BROKEN", 0) > 0
    assert not _intents(f.step(60.0, n=3))
    assert core.snapshot()["refusals"].get("STOPPED", 0) > 0
    f.step(0.0, n=3)
    assert len(_intents(f.step(60.0))) == 1  # re-armed


def test_stops_after_max_hold() -> None:
    core = _core(max_hold_s=0.5)
    f = Feed(core)
    _open(f, 60.0)
    out = f.step(60.0, n=20)  # 0.4 s: still held
    assert not _intents(out)
    out = f.step(60.0, n=10)
    closes = _intents(out)
    assert len(closes) == 1 and closes[0].action == "close"
    assert any(isinstance(m, Decision) and m.what == "stop" and "max_hold" in m.detail
               for _, m in out)


def test_flatten_closes_what_is_held() -> None:
    core = _core()
    f = Feed(core)
    _open(f, 60.0)
    core.on_flatten(Flatten("demo end"), f.t)
    closes = _intents(f.step(60.0))
    assert len(closes) == 1 and closes[0].action == "close"
    _complete(core, closes[0], f.t)
    assert not _intents(f.step(-60.0, n=3))  # halted: no new open
    snap = core.snapshot()
    assert snap["pos_dir"] == 0 and snap["pending"] is None and snap["halted"]


def test_deterministic_replay() -> None:
    a, b = Feed(_core(), seed=3), Feed(_core(), seed=3)
    for f in (a, b):
        f.warm()
        f.step(60.0, n=3)
    assert [msgspec.json.encode(m) for _, m in a.out] == \
        [msgspec.json.encode(m) for _, m in b.out]
    assert a.core.snapshot()["stat"] == b.core.snapshot()["stat"]


def test_residual_base_reports_the_hedge_rounding() -> None:
    f = Feed(_core())
    i = _open(f, 60.0)
    snap = f.core.snapshot()
    beta = snap["stat"]["beta"]
    la, lb = snap["lots"]
    a, b = f.core.a, f.core.b  # the mids the decision sized with
    pa = (a.bid_px[0] + a.ask_px[0]) * 0.5 * TICK_A
    pb = (b.bid_px[0] + b.ask_px[0]) * 0.5 * TICK_B
    want = abs((beta * la * 10 * pa - lb * 100 * pb) / (beta * 10 * pa) * 10)
    assert snap["residual_base"] == pytest.approx(want, rel=0.02)
    assert i.residual_base == pytest.approx(snap["residual_base"], rel=1e-9) or \
        i.residual_base == pytest.approx(-snap["residual_base"], rel=1e-9)


def test_closes_when_the_deviation_persists() -> None:
    core = _core()
    f = Feed(core)
    _open(f, 60.0)
    core.on_set_params(SetParams("pairs.rb-i", {"deviation_close_sigma": 2.0,
                                                "deviation_close_s": 0.3}), f.t)
    assert not _intents(f.step(60.0, n=10))  # 0.2 s beyond 2 sigma against the short
    out = f.step(60.0, n=10)
    closes = _intents(out)
    assert len(closes) == 1 and closes[0].action == "close"
    assert any(isinstance(m, Decision) and m.what == "stop" and "deviation" in m.detail
               for _, m in out)


def test_the_cointegration_test_runs_on_its_schedule_only(monkeypatch) -> None:
    import actors.strategy.stat_signal as sig_mod

    calls: list[int] = []
    real = sig_mod.coint

    def counting(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(sig_mod, "coint", counting)
    f = Feed(_core(coint_every_s=2.0))
    f.step(n=199)  # 50 burn-in + 149 samples: the window is not full yet
    assert calls == []
    f.step(n=1)  # full: the first test
    assert len(calls) == 1
    f.step(n=99)  # 1.98 s more: nothing due
    assert len(calls) == 1
    f.step(n=1)
    assert len(calls) == 2
    assert f.core.snapshot()["stat"]["tests"] == 2


def test_sampling_follows_event_time_with_both_legs_or_a_quiet_one() -> None:
    f = Feed(_core())
    f.step(n=10)
    assert f.core.snapshot()["stat"]["samples"] == 10  # one per 20 ms step, both legs fresh
    sig = f.core.sig
    t = sig.last_sample_ns
    ms = 1_000_000
    assert not sig.sample_due(t + 19 * ms, t)  # B has not quoted since
    assert sig.sample_due(t + 19 * ms, t + 19 * ms)  # jitter: within a quarter period
    assert not sig.sample_due(t + 10 * ms, t + 10 * ms)  # too soon
    assert sig.sample_due(t + 40 * ms, t)  # B quiet for two periods: A's quote alone
    # a leg quoting faster than the period does not sample faster
    core = f.core
    n = core.snapshot()["stat"]["samples"]
    t0 = f.t
    for k in range(1, 13):  # A every 5 ms for 60 ms, B once at 20 ms
        ts = t0 + k * 5 * ms
        if k == 4:
            core.on_book_update(_book("dce", "i2609", math.exp(f.ln_b), TICK_B, ts), ts)
        core.on_book_update(_book("shfe", "rb2610", 3500.0, TICK_A, ts), ts)
        if k == 11:  # at 20 ms (both quoted since the last sample), not again while B is quiet
            assert core.snapshot()["stat"]["samples"] - n == 1
    assert core.snapshot()["stat"]["samples"] - n == 2  # at 60 ms: two periods, B quiet


def test_kalman_warm_covers_the_argument_types_the_core_passes() -> None:
    from kernels.kalman import half_life, kalman_init, kalman_update, warm

    warm()
    before = [len(fn.signatures) for fn in (kalman_init, kalman_update, half_life)]
    f = Feed(_core())
    f.warm()  # burn-in, gated and ungated updates, tests with the half-life
    assert f.core.snapshot()["stat"]["tests"] >= 1
    assert [len(fn.signatures) for fn in (kalman_init, kalman_update, half_life)] == before


# --- limit-lock and halt (issue 15, item 6) -------------------------------------------------------


def _limit_up_a(f: Feed, bid: int) -> list:
    """Leg A (shfe rb2610) locked limit-up: bids at ``bid``, no ask."""
    f.t += STEP_NS
    u = BookUpdate("shfe", "rb2610", True, f.t, f.t, f.t, [bid, bid - 1], [200, 200], [], [])
    return f.core.on_book_update(u, f.t)


def _closes(out: list) -> list[str]:
    return [m.detail for _, m in out if isinstance(m, Decision) and m.what == "close"]


def test_a_limit_locked_leg_closes_what_is_held_at_the_locked_price() -> None:
    core = _core()
    f = Feed(core)
    i = _open(f, 60.0)  # short A, long B
    held_a = next(x.qty_lots for x in i.legs if x.venue == "shfe")
    bid = core.a.bid_px[0] + 100
    out = _limit_up_a(f, bid)
    (close,) = _intents(out)
    assert _closes(out) == ["limit"] and close.action == "close" and close.direction == -1
    legs = {x.venue: x for x in close.legs}
    assert (legs["shfe"].side, legs["shfe"].qty_lots, legs["shfe"].limit_px_ticks) == \
        ("B", held_a, bid)
    assert legs["dce"].side == "S"
    assert not core.stopped  # not a stop: the pair may trade again once the leg is back


def test_a_halted_leg_closes_what_is_held_on_the_next_book_update() -> None:
    core = _core()
    f = Feed(core)
    _open(f, 60.0)
    core.on_session_status(SessionStatus("dce", "i2609", "halt", f.t), f.t)
    out = f.step(60.0)
    assert _closes(out) == ["halt"] and len(_intents(out)) == 1


def test_without_close_on_limit_a_locked_leg_only_refuses() -> None:
    core = _core()
    f = Feed(core)
    _open(f, 60.0)
    core.on_set_params(SetParams("pairs.rb-i", {"close_on_limit": False}), f.t)
    out = _limit_up_a(f, core.a.bid_px[0] + 100)
    assert not _intents(out) and core.guard.last_refusal == "EMPTY_A"


def test_nothing_opens_on_a_limit_locked_leg() -> None:
    core = _core()
    f = Feed(core)
    f.warm()
    f.step(0.0)
    # A locked limit-up far above the spread's mean: rich, but nothing opens
    out = _limit_up_a(f, core.a.bid_px[0] + 30)
    assert not _intents(out) and core.guard.last_refusal == "EMPTY_A"

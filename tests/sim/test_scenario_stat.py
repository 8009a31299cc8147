"""The simulator's statistical-pairs market (``transports.venues.sim.scenarios.stat``): the
cointegrated prices with a drifting hedge ratio and an OU residual, seeded per step, and the
ground-truth windows against the true equilibrium on hand-made books and on a run."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

from scripts.demo.scenarios import scenario_conf
from transports.config.engine import load_config, with_overrides
from transports.venues.sim.core import SimCore
from transports.venues.sim.matching import Book, Order
from transports.venues.sim.process import PriceProcess
from transports.venues.sim.scenarios import model_for
from transports.venues.sim.scenarios.stat import StatModel

CFG = load_config(scenario_conf("stat-arb"))
PAIR = CFG.pairs[0]
T0 = 1_700_000_000 * 10**9


def _model(seed: int | None = None, **stat: object) -> StatModel:
    sim = CFG.sim
    if stat:
        sim = msgspec.structs.replace(sim, stat=msgspec.structs.replace(sim.stat, **stat))
    if seed is not None:
        sim = msgspec.structs.replace(sim, seed=seed)
    m = model_for(PAIR, with_overrides(CFG, sim=sim))
    assert isinstance(m, StatModel)
    return m


def test_log_prices_are_cointegrated_with_the_drifting_beta() -> None:
    m = _model()
    proc = PriceProcess(m.cfg.sim)
    st = m.st
    fairs = m.fairs()
    assert set(fairs) == {PAIR.leg_a, PAIR.leg_b}
    assert fairs[PAIR.leg_b](proc, 0) == pytest.approx(st.px_b)
    for k in (0, 700, 2345, 5000):
        t_s = k * proc.step_s
        gold = proc.gold_fx(k)[0]
        ln_b = math.log(st.px_b * gold / CFG.sim.gold_usd_oz)
        assert math.log(fairs[PAIR.leg_b](proc, k)) == pytest.approx(ln_b, abs=1e-12)
        beta_t = st.beta + st.beta_drift_per_s * t_s
        d = proc.dislocation(t_s) / math.exp(st.alpha + st.beta * math.log(st.px_b))
        want = st.alpha + beta_t * ln_b + m._u.at(k) + d
        assert math.log(fairs[PAIR.leg_a](proc, k)) == pytest.approx(want, abs=1e-12)


def test_the_residual_is_an_ou_of_the_configured_size_and_seeded_per_step() -> None:
    m = _model(ou_theta_per_s=5.0, ou_sigma_bps_s=6.0)
    u = np.array([m._u.at(k) for k in range(20_000)])
    assert np.std(u[1000:]) == pytest.approx(6e-4 / math.sqrt(10.0), rel=0.15)
    phi = np.corrcoef(u[:-1], u[1:])[0, 1]
    assert phi == pytest.approx(math.exp(-5.0 * 0.01), abs=0.02)
    # the value at a step does not depend on the order the steps are asked for
    m2 = _model(ou_theta_per_s=5.0, ou_sigma_bps_s=6.0)
    assert m2._u.at(12_345) == m._u.at(12_345)
    assert m2._u.at(3) == m._u.at(3)
    assert _model(seed=99, ou_theta_per_s=5.0)._u.at(3) != m._u.at(3)


def test_own_path_for_b() -> None:
    m = _model(b_path="own", vol_bps_s=20.0)
    proc = PriceProcess(m.cfg.sim)
    assert m.fair_b(proc, 0) == pytest.approx(m.st.px_b)
    path = [m.fair_b(proc, k) for k in range(0, 6000, 100)]
    shared = [_model().fair_b(proc, k) for k in range(0, 6000, 100)]
    assert path != shared
    assert [_model(b_path="own", vol_bps_s=20.0).fair_b(proc, k)
            for k in range(0, 6000, 100)] == path
    r = np.diff(np.log([m.fair_b(proc, k) for k in range(20_000)]))
    assert np.std(r) == pytest.approx(20e-4 * math.sqrt(0.01), rel=0.05)


def _book(sym: str, bid: int, qty: int = 100) -> Book:
    b = Book(sym)
    for i, (side, px) in enumerate((("B", bid), ("S", bid + 1), ("B", bid - 1),
                                    ("S", bid + 2))):
        b.submit(Order(f"o{i}", "mm", f"o{i}", sym, side, px, qty, "GTC", 0))
    return b


def test_truth_windows_against_the_true_equilibrium() -> None:
    m = _model(beta_drift_per_s=0.0)
    m.start_ns = T0
    tr = m.truth()
    st = m.st
    assert (tr.la, tr.lb) == (20, round(st.beta * 20 * 10 * m.px_a0 / (100 * st.px_b)))
    b_bid = round(st.px_b / 0.5)  # B bid 800.0, ask 800.5
    fair_a = math.exp(st.alpha + st.beta * math.log(st.px_b))  # ~3500

    def books(a_bid: int) -> dict[str, Book]:
        return {PAIR.leg_a: _book("rb2610", a_bid), PAIR.leg_b: _book("i2609", b_bid)}

    calm = round(fair_a)
    tr.observe(T0, books(calm))
    rich = round(fair_a * math.exp(35e-4))  # 35 bps rich: beyond 20 bps + fees + touches
    e = tr.edges(T0, books(rich))
    assert e is not None and e[0] >= tr.thr and e[1] < 0
    tr.observe(T0 + 10**8, books(rich))
    tr.observe(T0 + 4 * 10**8, books(calm))
    # 15 bps rich: not beyond the threshold
    tr.observe(T0 + 5 * 10**8, books(round(fair_a * math.exp(15e-4))))
    tr.observe(T0 + 6 * 10**8, books(calm))
    cheap = round(fair_a * math.exp(-35e-4))
    tr.observe(T0 + 7 * 10**8, books(cheap))
    tr.observe(T0 + 7 * 10**8 + 10**7, books(calm))  # 10 ms: shorter than min_window_ms
    tr.observe(T0 + 8 * 10**8, books(cheap))
    tr.finish(T0 + 9 * 10**8)
    w1, w2 = tr.windows
    assert (w1["dir"], w1["start_ns"], w1["end_ns"]) == (-1, T0 + 10**8, T0 + 4 * 10**8)
    assert w1["want"] == [["shfe", "rb2610", "S"], ["dce", "i2609", "B"]]
    assert w1["held"] == ["shfe", "rb2610", -1]
    assert (w2["dir"], w2["start_ns"], w2["end_ns"]) == (1, T0 + 8 * 10**8, T0 + 9 * 10**8)
    assert w2["want"] == [["shfe", "rb2610", "B"], ["dce", "i2609", "S"]]
    # the edge is net of both legs' fees: 35 bps less the touch of each leg and the fees
    fee = 3.5 / (10 * (rich + 0.5)) + 8.0 / (100 * (b_bid + 0.5) * 0.5)
    want_edge = math.log(rich) - st.alpha - st.beta * math.log((b_bid + 1) * 0.5) - fee
    assert w1["peak_edge"] == pytest.approx(want_edge, abs=1e-6)


def test_the_equilibrium_follows_beta_t() -> None:
    m = _model(beta_drift_per_s=0.001)
    m.start_ns = T0
    tr = m.truth()
    b_bid = round(m.st.px_b / 0.5)
    a = {PAIR.leg_a: _book("rb2610", 3500), PAIR.leg_b: _book("i2609", b_bid)}
    e0 = tr.edges(T0, a)
    e10 = tr.edges(T0 + 10 * 10**9, a)
    assert e0 is not None and e10 is not None
    # 10 s later beta is 0.01 higher: the equilibrium of ln A is 0.01 ln P_B higher
    assert e0[0] - e10[0] == pytest.approx(0.01 * math.log((b_bid + 1) * 0.5), rel=1e-9)


def test_the_simulators_windows_follow_the_episodes() -> None:
    """A run of the simulator alone: each dislocation episode is one window, A rich (sell A,
    buy B) when the episode is positive."""
    cfg = with_overrides(CFG, sim=msgspec.structs.replace(CFG.sim, warmup_s=4.0))
    core = SimCore(cfg, T0)
    end = T0 + 20_000_000_000
    while (t := core.next_due()) <= end:
        core.advance(t)
    d = core.finish(end).to_dict()
    model = core.fair.models[PAIR.name]
    assert model.start_ns == T0
    eps = [e for e in d["episodes"] if e["end_ns"] <= end]
    wins = [w for w in d["windows"] if w["end_ns"] < end]
    assert len(eps) >= 3 and len(wins) == len(eps)
    for ep, w in zip(eps, wins, strict=True):
        assert abs(w["start_ns"] - ep["start_ns"]) <= 25_000_000
        assert abs(w["end_ns"] - ep["end_ns"]) <= 25_000_000
        assert w["dir"] == -ep["sign"]
        # the episode's log size, less the touches and the fees, give or take the residual
        log_size = ep["size"] / model.px_a0
        assert log_size - 0.0025 <= w["peak_edge"] <= log_size + 0.001

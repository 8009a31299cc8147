"""The simulator's cash-and-carry market (``transports.venues.sim.scenarios.basis``): the fair
prices by the carry, days to expiry from the run's start, and the ground-truth windows on
hand-made books and on the simulator's own run."""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec
import pytest

from kernels.carry import carry_fair, expiry_ns
from scripts.demo.scenarios import scenario_conf
from transports.config.engine import load_config, with_overrides
from transports.config.sim_scenarios import SimBasisConfig
from transports.venues.sim.core import SimCore
from transports.venues.sim.matching import Book, Order
from transports.venues.sim.process import PriceProcess
from transports.venues.sim.scenarios import model_for
from transports.venues.sim.scenarios.basis import BasisModel

CFG = load_config(scenario_conf("basis"))
PAIR = CFG.pairs[0]
T0 = int(datetime(2027, 1, 4, 2, tzinfo=timezone.utc).timestamp()) * 10**9  # noqa: UP017
DAY = 86_400e9


def _model(**basis: object) -> BasisModel:
    sim = CFG.sim
    if basis:
        sim = msgspec.structs.replace(sim, basis=msgspec.structs.replace(sim.basis, **basis))
    m = model_for(PAIR, with_overrides(CFG, sim=sim))
    assert isinstance(m, BasisModel)
    return m


def _book(sym: str, bid: int, ask: int, qty: int) -> Book:
    b = Book(sym)
    for i, (side, px) in enumerate((("B", bid), ("S", ask), ("B", bid - 1), ("S", ask + 1))):
        b.submit(Order(f"o{i}", "mm", f"o{i}", sym, side, px, qty, "GTC", 0))
    return b


def test_the_future_is_priced_at_its_carry_plus_the_dislocation() -> None:
    m = _model(days_to_expiry=100.0)
    proc = PriceProcess(m.cfg.sim)
    fairs = m.fairs()
    assert set(fairs) == {PAIR.leg_a, PAIR.leg_b}
    b = m.b_cfg
    for k in (0, 500, 1234, 4321):
        s = fairs[PAIR.leg_b](proc, k)
        days = 100.0 - k * 0.01 / 86_400
        want = carry_fair(s * PAIR.unit_factor, b.rate, days, b.dividends) + \
            proc.dislocation(k * proc.step_s)
        assert fairs[PAIR.leg_a](proc, k) == pytest.approx(want, rel=1e-12)
    assert fairs[PAIR.leg_b](proc, 0) == pytest.approx(b.spot_px)


def test_days_to_expiry_come_from_the_runs_start() -> None:
    m = _model()
    proc = PriceProcess(m.cfg.sim)
    k = 300
    m.on_refresh("sse", T0 + k * m.step_ns, k, proc, {})
    assert m.start_ns == T0
    assert m.days(0) == pytest.approx((expiry_ns("2027-03-19") - T0) / DAY)
    assert m.days(k) == pytest.approx(m.days(0) - k * 0.01 / 86_400)
    assert m.days_at(expiry_ns("2027-03-19") + 1) == 0.0


def test_a_flat_volatility_keeps_the_spot_still() -> None:
    m = _model(vol_bps_s=0.0)
    proc = PriceProcess(m.cfg.sim)
    assert {m.spot_b(proc, k) for k in (0, 100, 5000)} == {CFG.sim.basis.spot_px}


def _books(m: BasisModel, fut_bid_pts: float, s_bid_pts: int) -> dict[str, Book]:
    fb = round(fut_bid_pts / 0.2)
    return {PAIR.leg_a: _book("IF2703", fb, fb + 1, 10),
            PAIR.leg_b: _book("510300", s_bid_pts, s_bid_pts + 1, 100)}


def test_truth_windows_by_the_carry_with_the_fees_and_the_wanted_orders() -> None:
    m = _model(days_to_expiry=100.0)
    m.start_ns = T0
    tr = m.truth()
    thr, fee = CFG.sim.threshold_cny_g, m.fee_rt
    assert fee == pytest.approx(2 * (1 * 30.0 + 30 * 2.0) / 300.0)
    k = 1 + 0.025 * 100.0 / 365
    fair_ask = 4001 * k - 12.0  # the fair of buying the ETF at its ask, in index points
    # calm: at fair, no window
    tr.observe(T0, _books(m, fair_ask - 1.0, 4000))
    # rich by the threshold plus fees and a tick: a window (sell A, buy B)
    tr.observe(T0 + 10**8, _books(m, fair_ask + thr + fee + 0.2, 4000))
    rich, _ = tr.edges(T0 + 10**8, _books(m, fair_ask + thr + fee + 0.2, 4000))
    assert thr <= rich <= thr + 0.3 + 1e-9
    tr.observe(T0 + 3 * 10**8, _books(m, fair_ask - 1.0, 4000))  # back: the window closes
    # rich but below threshold + fees: nothing
    tr.observe(T0 + 4 * 10**8, _books(m, fair_ask + thr + fee - 0.4, 4000))
    tr.observe(T0 + 5 * 10**8, _books(m, fair_ask - 1.0, 4000))
    # cheap (buy A, sell B), 0.2 s
    fair_bid = 4000 * k - 12.0
    cheap_books = _books(m, fair_bid - thr - fee - 2.0, 4000)
    assert tr.edges(T0, cheap_books)[1] >= thr
    tr.observe(T0 + 6 * 10**8, cheap_books)
    tr.observe(T0 + 8 * 10**8, _books(m, fair_ask - 1.0, 4000))
    tr.finish(T0 + 9 * 10**8)
    w1, w2 = tr.windows
    assert (w1["dir"], w1["start_ns"], w1["end_ns"]) == (-1, T0 + 10**8, T0 + 3 * 10**8)
    assert w1["want"] == [["cffex", "IF2703", "S"], ["sse", "510300", "B"]]
    assert w1["held"] == ["cffex", "IF2703", -1]
    assert (w2["dir"], w2["start_ns"], w2["end_ns"]) == (1, T0 + 6 * 10**8, T0 + 8 * 10**8)
    assert w2["want"] == [["cffex", "IF2703", "B"], ["sse", "510300", "S"]]
    assert w2["held"] == ["cffex", "IF2703", 1]


def test_no_reverse_windows_when_the_pair_does_not_trade_reverse_carry() -> None:
    pair = msgspec.structs.replace(PAIR, basis=msgspec.structs.replace(PAIR.basis,
                                                                       reverse=False))
    cfg = with_overrides(CFG, pairs=[pair], sim=msgspec.structs.replace(
        CFG.sim, basis=SimBasisConfig(spot_px=4.0, days_to_expiry=100.0)))
    m = model_for(pair, cfg)
    tr = m.truth()
    fair_bid = 4000 * (1 + 0.025 * 100.0 / 365) - 12.0
    tr.observe(T0, _books(m, fair_bid - 10.0, 4000))
    tr.observe(T0 + 10**9, _books(m, fair_bid, 4000))
    assert tr.windows == []


def test_the_simulators_windows_follow_the_episodes() -> None:
    """A run of the simulator alone: each dislocation episode is one window of its direction,
    the future rich (sell it) when the episode is positive."""
    core = SimCore(CFG, T0)
    end = T0 + 20_000_000_000
    while (t := core.next_due()) <= end:
        core.advance(t)
    d = core.finish(end).to_dict()
    model = core.fair.models[PAIR.name]
    eps = [e for e in d["episodes"] if e["end_ns"] <= end]
    wins = [w for w in d["windows"] if w["end_ns"] < end]
    assert len(eps) >= 3 and len(wins) == len(eps)
    for ep, w in zip(eps, wins, strict=True):
        assert abs(w["start_ns"] - ep["start_ns"]) <= 25_000_000
        assert abs(w["end_ns"] - ep["end_ns"]) <= 25_000_000
        assert w["dir"] == -ep["sign"]
        # the episode's size minus the touch, the ETF's rounding and the fees
        assert ep["size"] - 2.0 <= w["peak_edge"] <= ep["size"] - model.fee_rt
    assert model.start_ns == T0

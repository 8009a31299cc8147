"""The funding scenario's simulator: perpetual priced off spot by the rate, marks at every
refresh, funding settled on the accounts holding the perpetual with the right sign, recorded in
the truth, and the ground-truth windows by the strategy's rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from transports.config.engine import AppConfig, load_config, with_overrides
from transports.venues.sim.core import SimCore
from transports.venues.sim.process import PriceProcess
from transports.venues.sim.scenarios import model_for
from transports.venues.sim.scenarios.funding import FundingModel, rate_str
from transports.wire.venue_msgs import Funding, Mark, NewOrder

CONF = Path(__file__).resolve().parents[2] / "conf" / "scenarios" / "funding.toml"
T0 = 1_700_000_000_000_000_000
S = 1_000_000_000
MS = 1_000_000
PERP = "BTC-USDT-SWAP"


def _cfg(seed: int = 7, **funding: Any) -> AppConfig:
    cfg = load_config(str(CONF))
    assert cfg.sim.funding is not None
    sim = msgspec.structs.replace(cfg.sim, seed=seed,
                                  funding=msgspec.structs.replace(cfg.sim.funding, **funding))
    return with_overrides(cfg, sim=sim)


def _model(cfg: AppConfig) -> FundingModel:
    m = model_for(cfg.pairs[0], cfg)
    assert isinstance(m, FundingModel)
    return m


def _refresh(m: FundingModel, proc: PriceProcess, t_s: float,
             positions: dict[str, dict[str, int]]) -> tuple[list[Any], list[Any]]:
    k = round(t_s * 100)  # step_ms = 10
    return m.on_refresh("perp", T0 + k * 10 * MS, k, proc, positions)


def test_the_perpetual_trades_at_spot_times_one_plus_premium_x_rate() -> None:
    cfg = _cfg(rates=[0.0003])
    m, proc = _model(cfg), PriceProcess(cfg.sim)
    fairs = m.fairs()
    for k in (0, 123, 4567):
        spot = fairs["spot:BTC-USDT"](proc, k)
        assert fairs["perp:BTC-USDT-SWAP"](proc, k) == pytest.approx(spot * 1.0003)
    assert fairs["spot:BTC-USDT"](proc, 0) == pytest.approx(60000.0)


def test_a_mark_at_every_refresh_of_the_perpetuals_venue() -> None:
    cfg = _cfg(rates=[-0.0002])
    m, proc = _model(cfg), PriceProcess(cfg.sim)
    assert m.on_refresh("spot", T0, 0, proc, {}) == ([], [])  # the spot venue: nothing
    md, oe = _refresh(m, proc, 0.0, {})
    assert oe == []
    ((topic, mark),) = md
    assert topic == f"md.{PERP}" and isinstance(mark, Mark)
    assert mark.funding_rate == "-0.0002" and float(mark.funding_rate) == -0.0002
    assert mark.next_funding_ts == T0 + 6 * S  # interval_s = 6
    assert mark.index_px == 600000 and mark.mark_px == round(60000 * (1 - 0.0002) / 0.1)
    ((_, later),) = _refresh(m, proc, 6.1, {})[0]
    assert later.next_funding_ts == T0 + 12 * S
    assert rate_str(5e-05) == "0.00005"


@pytest.mark.parametrize(("rate", "lots", "sign"), [
    (0.0003, -2, 1),    # short perpetual, positive rate: receives
    (0.0003, 3, -1),    # long, positive: pays
    (-0.0002, -2, -1),  # short, negative: pays
    (-0.0002, 3, 1),    # long, negative: receives
])
def test_funding_is_paid_with_the_right_sign_to_the_accounts_holding_the_perpetual(
        rate: float, lots: int, sign: int) -> None:
    cfg = _cfg(rates=[rate])
    m, proc = _model(cfg), PriceProcess(cfg.sim)
    positions = {"perp-acct": {PERP: lots}, "spot-acct": {"BTC-USDT": 10},
                 "flat-acct": {PERP: 0}}
    _refresh(m, proc, 0.0, positions)
    assert _refresh(m, proc, 5.9, positions)[1] == []  # not yet
    md, oe = _refresh(m, proc, 6.0, positions)
    ((account, f),) = oe
    assert account == "perp-acct" and isinstance(f, Funding)
    mark = md[0][1].mark_px * 0.1  # the mark of this refresh (the rate is the same after it)
    assert (f.sym, f.ts, f.rate, f.ccy) == (PERP, T0 + 6 * S, rate_str(rate), "USDT")
    assert f.paid == pytest.approx(-lots * 0.01 * mark * rate, rel=1e-5)
    assert (f.paid > 0) == (sign > 0)
    assert _refresh(m, proc, 6.1, positions)[1] == []  # once per funding time


def test_the_venue_settles_funding_on_its_fills_and_the_truth_records_it() -> None:
    cfg = _cfg(rates=[0.0003])
    core = SimCore(cfg, T0)
    core.advance(T0)
    core.request(T0, "perp", "perp-acct", NewOrder(cl="1.1.1.0", sym=PERP, side="S",
                                                   px=500000, qty=2, tif="IOC", ts=T0))
    funding = []
    t = T0
    while t <= T0 + 6 * S + 100 * MS:
        t += 10 * MS
        _, oe = core.advance(t)
        funding += [(acct, msg) for venue, acct, msg in oe if isinstance(msg, Funding)]
    ((acct, f),) = funding
    assert acct == "perp-acct" and f.paid > 0  # short 2 contracts of a positive rate
    (rec,) = core.truth.to_dict()["funding"]
    assert rec == {"ts": T0 + 6 * S, "venue": "perp", "account": "perp-acct", "sym": PERP,
                   "rate": "0.0003", "paid": f.paid, "ccy": "USDT"}
    assert f.paid == pytest.approx(2 * 0.01 * 60000 * 0.0003, rel=1e-2)


def _windows(cfg: AppConfig, until_s: float) -> list[dict[str, Any]]:
    m, proc = _model(cfg), PriceProcess(cfg.sim)
    truth = m.truth()
    t = 0.0
    while t <= until_s:
        _refresh(m, proc, t, {})
        t = round(t + 0.1, 3)
    return truth.windows


def test_windows_are_the_lead_before_each_funding_time_the_rule_would_enter() -> None:
    ws = _windows(_cfg(rates=[0.0003]), 18.0)
    assert [(w["start_ns"] - T0, w["end_ns"] - T0) for w in ws] == \
        [(4 * S, 6 * S), (10 * S, 12 * S), (16 * S, 18 * S)]  # lead_s = 2
    w = ws[0]
    assert w["dir"] == 1 and w["want"] == [["spot", "BTC-USDT", "B"], ["perp", PERP, "S"]]
    assert w["held"] == ["perp", PERP, -1]
    (neg, *_) = _windows(_cfg(rates=[-0.0002]), 6.0)  # the demo pair trades the reverse
    assert neg["want"] == [["spot", "BTC-USDT", "S"], ["perp", PERP, "B"]]
    assert neg["held"] == ["perp", PERP, 1]


def test_no_window_below_the_threshold_or_reverse_off_or_without_the_streak() -> None:
    assert _windows(_cfg(rates=[0.00005]), 13.0) == []
    cfg = _cfg(rates=[-0.0002])
    p = cfg.pairs[0]
    assert p.funding is not None
    off = msgspec.structs.replace(p, funding=msgspec.structs.replace(p.funding, reverse=False))
    assert _windows(with_overrides(cfg, pairs=[off]), 13.0) == []
    # a lead as long as the interval: at T - lead the previous regime's marks count
    long = msgspec.structs.replace(p, funding=msgspec.structs.replace(p.funding, lead_s=6.0))
    cfg = with_overrides(_cfg(rates=[-0.0002]), pairs=[long])
    ws = _windows(cfg, 13.0)
    # the first funding time: one mark by T - lead (the start), short of the streak of 3
    assert [(w["start_ns"] - T0) // S for w in ws] == [6]


def test_the_regimes_are_seeded_and_do_not_depend_on_the_order_asked() -> None:
    cfg = _cfg(seed=8)
    a, b = _model(cfg), _model(cfg)
    late_first = [b.rate_of(n) for n in (9, 1, 5)]
    assert late_first == [a.rate_of(n) for n in (9, 1, 5)]
    assert [a.rate_of(n) for n in range(1, 9)] == [b.rate_of(n) for n in range(1, 9)]
    # regime_intervals = 2: funding times come in pairs of one rate
    assert all(a.rate_of(2 * i + 1) == a.rate_of(2 * i + 2) for i in range(4))
    assert set(a.rate_of(n) for n in range(1, 40)) == {0.0003, -0.0002, 0.00005}
    other = _model(_cfg(seed=9))
    assert [other.rate_of(n) for n in range(1, 40)] != [a.rate_of(n) for n in range(1, 40)]

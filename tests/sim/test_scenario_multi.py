"""The multi-venue scenario's simulator: one fair on every venue, each episode dislocating one
venue (drawn deterministically), the outlier venue's bad prints, and the ground-truth windows by
the strategy's rule (the best buy/sell venue pair net of both venues' fees, outlier excursions
left out) on hand-made books and over a whole simulated run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from transports.config.engine import AppConfig, load_config, with_overrides
from transports.venues.sim.core import SimCore
from transports.venues.sim.matching import MM_ACCOUNT, Book, Order
from transports.venues.sim.process import PriceProcess
from transports.venues.sim.scenarios import model_for
from transports.venues.sim.scenarios.multi import MultiModel

CONF = Path(__file__).resolve().parents[2] / "conf" / "scenarios" / "multi-venue.toml"
S = 1_000_000_000
MS = 1_000_000
KEYS = ["bina:BTCUSDT", "okx:BTC-USDT", "byb:BTCUSDT-P"]


def _cfg(seed: int = 7, **multi: Any) -> AppConfig:
    cfg = load_config(str(CONF))
    assert cfg.sim.multi is not None
    sim = msgspec.structs.replace(cfg.sim, seed=seed,
                                  multi=msgspec.structs.replace(cfg.sim.multi, **multi))
    return with_overrides(cfg, sim=sim)


def _model(cfg: AppConfig) -> MultiModel:
    m = model_for(cfg.pairs[0], cfg)
    assert isinstance(m, MultiModel)
    return m


def _book(sym: str, bid: int, ask: int, qty: int = 30) -> Book:
    b = Book(sym)
    for side, px in (("B", bid), ("S", ask)):
        b.submit(Order("mm", MM_ACCOUNT, "", sym, side, px, qty, "GTC", 0))
    return b


def _books(bina: tuple[int, int], okx: tuple[int, int], byb: tuple[int, int]) -> dict[str, Book]:
    return {k: _book(k.split(":")[1], *q) for k, q in zip(KEYS, (bina, okx, byb), strict=True)}


def test_every_venue_quotes_one_fair_and_each_episode_moves_exactly_one_venue() -> None:
    cfg = _cfg(outlier_venue="")
    m, proc = _model(cfg), PriceProcess(cfg.sim)
    fairs = [m.fairs()[k] for k in KEYS]
    assert fairs[0](proc, 0) == pytest.approx(60000.0)
    moved: list[int] = []
    for ep in proc.episodes_until(60.0):
        k_in, k_out = round((ep.start_s + 0.5) * 100), round((ep.end_s + 0.1) * 100)
        base = m.base(proc, k_in)
        off = [f(proc, k_in) - base for f in fairs]
        (v,) = [n for n, d in enumerate(off) if d != 0.0]
        assert off[v] == pytest.approx(ep.value)
        moved.append(v)
        if not proc.dislocation(k_out / 100):
            assert {f(proc, k_out) for f in fairs} == {m.base(proc, k_out)}
    assert len(set(moved)) == 3  # every venue gets its episodes
    # drawn per episode from the seed, not from the order the steps are asked in
    m2, proc2 = _model(cfg), PriceProcess(cfg.sim)
    eps = proc2.episodes_until(60.0)
    got = [m2.episode_venue(proc2, ep.start_s + 0.5)[0] for ep in reversed(eps)]
    assert got[::-1] == moved


def test_the_outlier_venue_prints_outlier_bps_away_on_its_schedule() -> None:
    cfg = _cfg(outlier_venue="byb", outlier_bps=300.0, outlier_every_s=9.0, outlier_hold_s=1.5)
    m, proc = _model(cfg), PriceProcess(cfg.sim)
    byb = m.fairs()[KEYS[2]]
    assert [m.excursion(t) for t in (4.4, 4.6, 5.9, 6.1, 13.6, 15.1)] == [0, 1, 1, 0, -1, 0]
    k = 460  # 4.6 s
    clean = m.base(proc, k) + (m.episode_venue(proc, 4.6)[1]
                               if m.episode_venue(proc, 4.6)[0] == 2 else 0.0)
    assert byb(proc, k) == pytest.approx(clean * 1.03)
    assert m.in_excursion(2) and not m.in_excursion(0)
    byb(proc, 700)  # 7 s: back
    assert not m.in_excursion(2)


def test_truth_takes_the_best_pair_net_of_each_venues_fees() -> None:
    m = _model(_cfg())
    t = m.truth()
    # okx asks 2 less than bina but pays 6 USDT/BTC more in fees: bina -> byb is the best
    best = t.best(_books((59999, 60001), (59997, 59999), (60100, 60102)))
    assert best is not None
    edge, b, s = best
    assert (b, s) == (0, 2)
    assert edge == pytest.approx(60100 - 60001 - (0.006 + 0.009) / 0.001)


def test_truth_windows_span_the_edge_above_threshold_and_name_the_entry_orders() -> None:
    m = _model(_cfg())
    t = m.truth()
    calm = _books((59999, 60001), (59999, 60001), (59999, 60001))
    rich = _books((59999, 60001), (59999, 60001), (60100, 60102))
    t.observe(1 * S, calm)
    t.observe(2 * S, rich)
    t.observe(2 * S + 40 * MS, rich)
    t.observe(3 * S, calm)
    t.observe(4 * S, rich)
    t.observe(4 * S + 20 * MS, calm)  # shorter than min_window_ms: not kept
    (w,) = t.windows
    assert (w["start_ns"], w["end_ns"], w["dir"]) == (2 * S, 3 * S, 1)
    assert w["want"] == [["bina", "BTCUSDT", "B"], ["byb", "BTCUSDT-P", "S"]]
    assert w["peak_edge"] == pytest.approx(99 - 15)


def test_truth_leaves_out_pairs_with_the_outlier_venue_in_an_excursion() -> None:
    cfg = _cfg()
    m, proc = _model(cfg), PriceProcess(cfg.sim)
    t = m.truth()
    bad = _books((59999, 60001), (59999, 60001), (61800, 61802))
    m.fairs()[KEYS[2]](proc, 460)  # byb quotes in an excursion now
    t.observe(1 * S, bad)
    t.observe(2 * S, bad)
    assert t.best(bad) is None or t.best(bad)[0] < t.thr  # type: ignore[index]
    m.fairs()[KEYS[2]](proc, 700)  # back: the same books would be an opportunity
    assert t.best(bad) is not None and t.best(bad)[2] == 2  # type: ignore[index]
    t.finish(3 * S)
    assert t.windows == []


def test_a_whole_run_has_windows_on_every_venue_none_in_an_outlier_and_is_reproducible() -> None:
    def run() -> tuple[list[dict[str, Any]], MultiModel]:
        cfg = _cfg(seed=8)
        sim = SimCore(cfg, 0)
        t = 0
        while t < 30 * S:
            t = sim.next_due()
            sim.advance(t)
        sim.truth.finish(t)
        return sim.truth.windows, sim.fair.models["btc-multi"]

    windows, m = run()
    assert len(windows) >= 5
    venues, starts_out = set(), 0
    for w in windows:
        assert w["end_ns"] - w["start_ns"] >= 50 * MS
        sides = {side for _, _, side in w["want"]}
        assert sides == {"B", "S"}
        venues |= {v for v, _, _ in w["want"]}
        # the outlier venue is not part of a window while it is out: a window that starts in
        # an excursion starts with another pair (``want`` lists the pairs in the order seen)
        if m.excursion(w["start_ns"] / S):
            assert all(v != "byb" for v, _, _ in w["want"][:2])
            starts_out += 1
    assert venues == {"bina", "okx", "byb"} and starts_out >= 1
    assert run()[0] == windows

"""The simulator's price process, its ground-truth windows and the core's timing (no sockets)."""

from __future__ import annotations

import itertools

import msgspec
import numpy as np
import pytest

from transports.clock import TestClock
from transports.config.engine import load_config, with_overrides
from transports.config.sim import FaultsConfig, SimConfig
from transports.venues.sim.core import SimCore
from transports.venues.sim.process import GRAMS_PER_OZT, FairModel, PriceProcess
from transports.venues.sim.truth import min_clip
from transports.wire.venue_msgs import (
    Ack,
    Delta,
    Done,
    Fill,
    Heartbeat,
    NewOrder,
    Ping,
    Pong,
    Snapshot,
    SnapshotReq,
)

CFG = load_config(None)
T0 = 1_700_000_000_000_000_000


def _sim(**kw: object) -> SimConfig:
    return msgspec.structs.replace(CFG.sim, **kw)


def test_same_seed_same_path_different_seed_differs() -> None:
    a, b = PriceProcess(_sim(seed=11)), PriceProcess(_sim(seed=11))
    c = PriceProcess(_sim(seed=12))
    pa, pb, pc = a.path(5000), b.path(5000), c.path(5000)
    assert np.array_equal(pa, pb)
    assert not np.allclose(pa, pc)
    assert a.episodes_until(100.0) == b.episodes_until(100.0)
    assert a.episodes_until(100.0) != c.episodes_until(100.0)


def test_state_depends_on_the_step_index_only() -> None:
    a, b = PriceProcess(_sim(seed=3)), PriceProcess(_sim(seed=3))
    late = b.state(9000)  # jump ahead first: the path must not depend on the access order
    for k in range(0, 9001, 450):
        a.state(k)
    assert a.state(9000) == late
    assert b.state(17) == a.state(17)
    s = a.state(0)
    assert s.gold == pytest.approx(2650.0) and s.fx == pytest.approx(7.2)
    assert s.fair_a == pytest.approx(2650.0 * 7.2 / GRAMS_PER_OZT + 0.5)


def test_dislocations_start_after_warmup_with_the_configured_size() -> None:
    sim = _sim(warmup_s=4.0, dislocation_every_s=2.0, dislocation_cny_g=1.6)
    p = PriceProcess(sim)
    eps = p.episodes_until(600.0)
    assert len(eps) > 100
    assert eps[0].start_s >= 4.0
    for prev, ep in itertools.pairwise(eps):
        assert ep.start_s > prev.end_s  # clean windows between episodes
        assert p.dislocation((prev.end_s + ep.start_s) / 2) == 0.0
    for ep in eps:
        assert ep.end_s - ep.start_s == pytest.approx(1.0)
        assert 0.75 * 1.6 <= ep.size <= 1.25 * 1.6
        assert p.dislocation(ep.start_s + 0.5) == ep.value
    assert {ep.sign for ep in eps} == {-1, 1}
    gaps = [b.start_s - a.end_s for a, b in itertools.pairwise(eps)]
    assert 1.5 < float(np.mean(gaps)) < 2.5  # exponential, mean dislocation_every_s
    assert all(p.dislocation(t / 10) == 0.0 for t in range(40))  # none during warm-up


def test_fair_model_maps_the_pair_roles() -> None:
    p = PriceProcess(CFG.sim)
    f = FairModel(CFG)
    s = p.state(10)
    assert f.fair("comex:GCZ6", p, 10) == pytest.approx(s.gold)
    assert f.fair("fx:USDCNH", p, 10) == pytest.approx(s.fx)
    assert f.fair("shfe:au2606", p, 10) == pytest.approx(s.fair_a)
    assert f.fair("shfe:nope", p, 10) is None


def test_min_clip_of_the_demo_pair() -> None:
    assert min_clip(1000.0, 3110.34768, 30, 30) == (28, 9)


def _run(core: SimCore, clock: TestClock, until_ns: int) -> tuple[list, list]:
    md_all, oe_all = [], []
    while True:
        t = core.next_due()
        if t > until_ns:
            break
        clock.set_ns(max(t, clock.now_ns()))
        md, oe = core.advance(clock.now_ns())
        md_all += md
        oe_all += oe
    return md_all, oe_all


def test_ground_truth_windows_match_the_episodes() -> None:
    cfg = with_overrides(CFG, sim=_sim(seed=5, dislocation_every_s=2.0))
    clock = TestClock(T0)
    core = SimCore(cfg, T0)
    end = T0 + 24_000_000_000
    _run(core, clock, end)
    d = core.finish(end).to_dict()
    assert set(d) >= {"orders", "fills", "counts", "positions", "windows"}
    eps, wins = d["episodes"], d["windows"]
    assert len(eps) >= 3 and len(wins) == len(eps)
    for ep, w in zip(eps, wins, strict=True):
        assert w["start_ns"] >= T0 + 4_000_000_000  # nothing during warm-up
        assert abs(w["start_ns"] - ep["start_ns"]) <= 25_000_000  # the next refresh shows it
        assert w["dir"] == -ep["sign"]
        assert abs(w["peak_edge"] - ep["size"]) < 0.15  # size minus spreads and fees
        dur = w["end_ns"] - w["start_ns"]
        if ep["end_ns"] < end:
            assert abs(dur - 1_000_000_000) <= 25_000_000
    assert d["meta"]["clips"] == {"au-gc": [28, 9]}


def test_core_latency_is_applied_both_ways() -> None:
    clock = TestClock(T0)
    core = SimCore(CFG, T0)
    _run(core, clock, T0 + 100_000_000)
    now = clock.now_ns()
    snap = core.ref(now, "shfe", SnapshotReq(sym="au2606"))
    assert isinstance(snap, Snapshot) and snap.seq > 0 and snap.a
    ask = core.venues["shfe"].books["au2606"].best("S")
    core.request(now, "shfe", "acct", NewOrder("c1", "au2606", "B", ask, 1, "IOC", now))
    core.request(now, "shfe", "acct", Ping(ts=123))
    lat = 400_000
    assert core.next_due() == now + lat
    clock.set_ns(now + lat)
    _, oe = core.advance(clock.now_ns())
    assert oe == []  # processed, replies still on their way
    clock.set_ns(now + 2 * lat)
    _, oe = core.advance(clock.now_ns())
    msgs = [m for _, acct, m in oe if acct == "acct"]
    assert [type(m) for m in msgs] == [Ack, Fill, Done, Pong]
    assert msgs[0].ts == now + lat and msgs[3].echo == 123
    assert core.truth.orders[0]["ts"] == now + lat


def test_md_fault_switches_drop_and_duplicate() -> None:
    cfg = with_overrides(CFG, sim=_sim(faults=FaultsConfig(md_drop=1.0)))
    core = SimCore(cfg, T0)
    md, _ = _run(core, TestClock(T0), T0 + 300_000_000)
    assert not [m for _, _, m in md if isinstance(m, Delta)]
    hbs = [m for v, _, m in md if v == "shfe" and isinstance(m, Heartbeat)]
    assert hbs[-1].seqs["au2606"] > 5  # the sequence still advanced: the feed sees gaps
    cfg = with_overrides(CFG, sim=_sim(faults=FaultsConfig(md_duplicate=1.0)))
    core = SimCore(cfg, T0)
    md, _ = _run(core, TestClock(T0), T0 + 100_000_000)
    seqs = [m.seq for _, _, m in md if isinstance(m, Delta) and m.sym == "au2606"]
    assert seqs == [s for s in range(1, seqs[-1] + 1) for _ in (0, 1)]

"""``cmc bench soak``'s verdict and config, without running the demo (made-up samples)."""

from __future__ import annotations

import re

import numpy as np

from scripts.bench.soak import phase_of, soak_conf_text, verdict


def test_flat_memory_after_warm_up_is_no_growth() -> None:
    t = np.arange(0.0, 61.0, 2.0)
    mb = np.where(t < 20, 100 + t, 120.0) + np.random.default_rng(1).normal(0, 0.05, len(t))
    v = verdict(t, mb, 0.0, 60.0)
    assert v["growing"] is False
    assert v["warmup_end_s"] == 20.0
    assert abs(v["slope_mb_per_min"]) < 0.5 and abs(v["last_minus_warmup_mb"]) < 0.5
    assert v["start_mb"] < v["warmup_mb"]  # the warm-up's own climb is not judged


def test_steady_growth_after_warm_up_is_growing_at_its_slope() -> None:
    t = np.arange(0.0, 181.0, 5.0)
    mb = 200 + 3.0 * t / 60  # 3 MB a minute, all along
    v = verdict(t, mb, 0.0, 180.0)
    assert v["growing"] is True
    assert abs(v["slope_mb_per_min"] - 3.0) < 1e-6
    assert abs(v["last_minus_warmup_mb"] - 6.0) < 1e-6  # from 60 s to 180 s


def test_samples_outside_the_trading_window_are_not_judged() -> None:
    t = np.array([0.0, 5, 10, 20, 30, 40, 50, 60, 70])
    mb = np.array([10.0, 50, 100, 100, 100, 100, 100, 100, 400])  # startup, then shutdown
    v = verdict(t, mb, 10.0, 60.0)
    assert v["growing"] is False and v["max_mb"] == 100.0


def test_too_few_samples_give_no_verdict() -> None:
    assert verdict(np.array([0.0, 1.0]), np.array([1.0, 2.0]), 0.0, 1.0)["growing"] is None


def test_the_rate_sets_every_simulated_venues_md_interval() -> None:
    text, rate = soak_conf_text(300.0)
    intervals = {int(x) for x in re.findall(r"md_interval_ms = (\d+)", text)}
    assert intervals == {10} and rate == 300.0  # three venues, 100 updates/s each
    _, default_rate = soak_conf_text(None)
    assert default_rate == 120.0  # the demo's 20, 20 and 50 ms


def test_the_demos_stop_is_not_trading_even_inside_the_window() -> None:
    # seen in a 30-minute soak: 3 s before the window's end the demo had stopped its gateway
    # and the engine, writing its summary, stood at +108 MB for one sample
    assert phase_of(5.0, None, 60.0, 1) == "startup"
    assert phase_of(10.0, 10.0, 60.0, 2) == "trading"
    assert phase_of(67.0, 10.0, 60.0, 2) == "trading"
    assert phase_of(68.0, 10.0, 60.0, 1) == "shutdown"  # children gone: stopping
    assert phase_of(71.0, 10.0, 60.0, 2) == "shutdown"  # past the window

"""The ratio trigger's kernels (``kernels.pricing``): against their ``py_func`` and the oracle
``tests.support.oracles.ratio``, and property tests of the rolling fair ratio."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels import pricing
from kernels.pricing import ratio_push, ratio_side
from kernels.stats import zscore_init
from tests.support.oracles import ratio as oracle_ratio

SETTINGS = settings(deadline=None, max_examples=200)

px_st = st.floats(1.0, 1e5, allow_nan=False, allow_infinity=False)
ratio_st = st.floats(0.5, 2.0, allow_nan=False, allow_infinity=False)


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    pricing.warm()


def test_warm_compiles_both_kernels_with_the_strategys_types() -> None:
    assert pricing.warm() == 2
    # the strategy passes float64 arrays, Python floats and a Python bool: one specialisation
    # each, none added by a call of those types
    n_push, n_side = len(ratio_push.signatures), len(ratio_side.signatures)
    buf, state = np.zeros(5), np.zeros(4)
    ratio_push(buf, state, 600.5, 600.0, 10.0, True)
    ratio_side(600.5, 600.0, 1.0)
    assert (len(ratio_push.signatures), len(ratio_side.signatures)) == (n_push, n_side)


@SETTINGS
@given(px=px_st, par=px_st, fair=ratio_st)
def test_ratio_side_matches_py_func_and_the_oracle(px: float, par: float, fair: float) -> None:
    dev, edge = ratio_side(px, par, fair)
    assert (dev, edge) == ratio_side.py_func(px, par, fair)
    r = oracle_ratio(px, par)
    assert dev == pytest.approx((r / fair - 1.0) * 1e4, rel=1e-9, abs=1e-6)
    # the money of the deviation: positive exactly when A is rich against the fair ratio
    assert edge == pytest.approx(px - fair * par, rel=1e-12, abs=1e-9)
    if abs(dev) > 1e-6:
        assert (dev > 0) == (edge > 0)
    # deviation in bps is the money over the fair parity
    assert dev == pytest.approx(edge / (fair * par) * 1e4, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("par,fair", [(0.0, 1.0), (-1.0, 1.0), (100.0, 0.0), (100.0, -1.0)])
def test_ratio_side_without_a_positive_parity_or_fair_is_nan(par: float, fair: float) -> None:
    dev, edge = ratio_side(100.0, par, fair)
    assert math.isnan(dev) and math.isnan(edge)


@SETTINGS
@given(steps=st.lists(st.tuples(px_st, px_st, st.booleans()), min_size=1, max_size=60),
       window=st.integers(1, 12), clip_bps=st.floats(0.0, 500.0))
def test_ratio_push_matches_py_func(steps: list, window: int, clip_bps: float) -> None:
    b1, s1 = np.zeros(window), np.zeros(4)
    b2, s2 = np.zeros(window), np.zeros(4)
    zscore_init(b1, s1)
    zscore_init(b2, s2)
    for num, den, warm in steps:
        got = ratio_push(b1, s1, num, den, clip_bps, warm)
        want = ratio_push.py_func(b2, s2, num, den, clip_bps, warm)
        assert got[0] == want[0]
        assert got[1] == want[1] or (math.isnan(got[1]) and math.isnan(want[1]))
        assert np.array_equal(b1, b2) and np.allclose(s1, s2, rtol=1e-12, atol=0.0)


@SETTINGS
@given(ratios=st.lists(ratio_st, min_size=2, max_size=60), window=st.integers(2, 12),
       clip_bps=st.floats(1.0, 200.0))
def test_ratio_push_returns_the_ratio_and_keeps_the_window_in_the_band(
        ratios: list, window: int, clip_bps: float) -> None:
    buf, state = np.zeros(window), np.zeros(4)
    zscore_init(buf, state)
    pushed: list[float] = []
    for i, r in enumerate(ratios):
        den = 600.0
        warm = i >= 1
        got, mean = ratio_push(buf, state, r * den, den, clip_bps, warm)
        assert got == pytest.approx(r, rel=1e-12)
        if i == 0:
            assert math.isnan(mean)
            pushed.append(got)
            continue
        # the mean returned is the window's before the push
        win = pushed[-window:]
        assert mean == pytest.approx(float(np.mean(win)), rel=1e-9)
        lo, hi = mean * (1 - clip_bps * 1e-4), mean * (1 + clip_bps * 1e-4)
        pushed.append(min(max(got, lo), hi))
    win = pushed[-window:]
    assert state[2] == pytest.approx(float(np.mean(win)), rel=1e-9)
    # the window holds exactly the winsorised values
    n = min(window, len(pushed))
    assert sorted(buf[:n]) == pytest.approx(sorted(win), rel=1e-12)


def test_a_dislocation_moves_the_ratio_not_the_fair() -> None:
    buf, state = np.zeros(50), np.zeros(4)
    zscore_init(buf, state)
    for i in range(50):
        ratio_push(buf, state, 601.0 + (0.02 if i % 2 else 0.0), 600.0, 10.0, i > 0)
    fair_before = state[2]
    for _ in range(10):  # 1.6 / 600 = 27 bps, far beyond the 10 bp band
        r, _ = ratio_push(buf, state, 602.6, 600.0, 10.0, True)
        assert r == pytest.approx(602.6 / 600.0)
    # each push was clipped to mean x (1 + 10 bp): the fair moved by far less than the ratio
    assert state[2] - fair_before < 0.25 * (602.6 / 600.0 - fair_before)


def test_a_zero_parity_is_not_pushed() -> None:
    buf, state = np.zeros(4), np.zeros(4)
    zscore_init(buf, state)
    ratio_push(buf, state, 601.0, 600.0, 10.0, False)
    before = state.copy()
    r, mean = ratio_push(buf, state, 601.0, 0.0, 10.0, True)
    assert math.isnan(r) and mean == pytest.approx(601.0 / 600.0)
    assert np.array_equal(state, before)


@pytest.mark.parametrize("fn", [ratio_push, ratio_side])
def test_the_kernels_are_njit_cached_nogil(fn) -> None:
    assert hasattr(fn, "py_func")
    assert fn.targetoptions.get("nogil") is True
    assert type(fn._cache).__name__ != "NullCache"


def test_a_ratio_strategy_compiles_nothing_after_warm() -> None:
    """Ticks of a ratio-trigger StrategyCore use only the signatures ``warm`` compiled."""
    import msgspec

    from actors.strategy.strategy import MIN_WARM_SAMPLES, StrategyCore
    from transports.config.engine import load_config
    from transports.wire.messages import BookUpdate

    pricing.warm()
    before = (len(ratio_push.signatures), len(ratio_side.signatures))
    cfg = load_config()
    c = {f"{x.venue}:{x.sym}": x for x in cfg.contracts}
    p = msgspec.structs.replace(cfg.pairs[0], trigger="ratio", ratio_entry_bps=1.0)
    s = StrategyCore("s", p, c[p.leg_a], c[p.leg_b], c[p.fx], "combo", 1)
    s.handle(BookUpdate("fx", "USDCNH", True, 0, 0, 0, [71999], [99], [72001], [99]), 0)
    s.handle(BookUpdate("comex", "GCZ6", True, 0, 0, 0, [26499], [99], [26501], [99]), 0)
    for i in range(MIN_WARM_SAMPLES + 5):
        bid = 30700 + (60 if i == MIN_WARM_SAMPLES + 2 else i % 2)
        s.handle(BookUpdate("shfe", "au2606", True, 0, 0, 0, [bid], [99], [bid + 2], [99]), 0)
    assert s.intents == 1  # the ratio side was priced and opened
    assert (len(ratio_push.signatures), len(ratio_side.signatures)) == before

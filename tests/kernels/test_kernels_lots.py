"""Property tests for the lot-sizing and pricing kernels."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels
from kernels import best_lot_pair
from tests.support.oracles import basis, hedge_lots, parity, ratio, spread

SETTINGS = settings(deadline=None, max_examples=200)

GRAMS_PER_TROY_OZ = 31.1034768

# Lot sizes: integers and small decimals hit exact ties; general floats hit the rest.
lot_size_st = st.one_of(
    st.integers(1, 60).map(float),
    st.integers(1, 600).map(lambda k: k / 10.0),
    st.floats(0.01, 1e4),
)
price_st = st.floats(-1e6, 1e6)


@pytest.fixture(scope="module", autouse=True)
def _warm():
    kernels.warm_up()


def _brute_force_pair(base_a, base_b, max_a, max_b):
    tol = 1e-9 * max(base_a, base_b)
    grid = [
        (abs(a * base_a - b * base_b), a, b)
        for a in range(1, max_a + 1)
        for b in range(1, max_b + 1)
    ]
    best_abs = min(r for r, _, _ in grid)
    near = [(a + b, a, b) for r, a, b in grid if r <= best_abs + tol]
    _, a, b = max(near)
    return a, b, a * base_a - b * base_b


def test_best_lot_pair_gold_example():
    lots_a, lots_b, residual = best_lot_pair(1000.0, 100 * GRAMS_PER_TROY_OZ, 30, 30)
    assert (lots_a, lots_b) == (28, 9)
    assert residual == pytest.approx(6.87088, abs=1e-6)


def test_best_lot_pair_prefers_more_lots_on_ties():
    assert best_lot_pair(1.0, 2.0, 10, 10)[:2] == (10, 5)
    assert best_lot_pair(0.1, 0.3, 10, 10)[:2] == (9, 3)  # despite 3 * 0.1 != 0.3
    assert best_lot_pair(5.0, 5.0, 1, 1) == (1, 1, 0.0)


@SETTINGS
@given(
    base_a=lot_size_st,
    base_b=lot_size_st,
    max_a=st.integers(1, 40),
    max_b=st.integers(1, 40),
)
def test_best_lot_pair_equals_brute_force(base_a, base_b, max_a, max_b):
    lots_a, lots_b, residual = best_lot_pair(base_a, base_b, max_a, max_b)
    want_a, want_b, want_res = _brute_force_pair(base_a, base_b, max_a, max_b)
    assert (lots_a, lots_b) == (want_a, want_b)
    assert residual == want_res
    assert 1 <= lots_a <= max_a and 1 <= lots_b <= max_b


@pytest.mark.parametrize(
    "args", [(0.0, 1.0, 3, 3), (1.0, -1.0, 3, 3), (1.0, 1.0, 0, 3), (math.nan, 1.0, 3, 3)]
)
def test_best_lot_pair_rejects_bad_config(args):
    with pytest.raises(ValueError):
        best_lot_pair(*args)


@SETTINGS
@given(filled=st.integers(-10_000, 10_000), base_src=lot_size_st, base_dst=lot_size_st)
def test_hedge_lots_residual_minimal(filled, base_src, base_dst):
    lots, residual = hedge_lots(filled, base_src, base_dst)
    src_qty = filled * base_src
    assert residual == src_qty - lots * base_dst
    tol = 1e-9 * base_dst * (abs(filled) + 1)
    for k in range(lots - 3, lots + 4):
        assert abs(residual) <= abs(src_qty - k * base_dst) + tol
    assert abs(residual) <= base_dst / 2 + tol
    assert lots == 0 or (lots > 0) == (filled > 0)
    # Symmetric in the sign of the fill (round half away from zero).
    neg_lots, neg_residual = hedge_lots(-filled, base_src, base_dst)
    assert neg_lots == -lots
    assert neg_residual == pytest.approx(-residual, abs=tol)


def test_hedge_lots_rounds_half_away_from_zero():
    assert hedge_lots(1, 1.5, 1.0) == (2, -0.5)
    assert hedge_lots(-1, 1.5, 1.0) == (-2, 0.5)
    assert hedge_lots(5, 1.0, 2.0) == (3, -1.0)
    assert hedge_lots(3, 0.1, 0.2)[0] == 2  # 1.4999999999999998 in floats, 1.5 exactly
    assert hedge_lots(0, 1.0, 3.0) == (0, 0.0)
    lots, residual = hedge_lots(28, 1000.0, 100 * GRAMS_PER_TROY_OZ)
    assert lots == 9 and residual == pytest.approx(6.87088, abs=1e-6)
    with pytest.raises(ValueError):
        hedge_lots(1, 1.0, 0.0)


def test_parity_gold_example():
    p_gc_usd_per_oz, usdcnh = 2350.0, 7.25
    got = parity(p_gc_usd_per_oz, usdcnh, 1 / GRAMS_PER_TROY_OZ, 0.0, 0.0)
    assert got == pytest.approx(2350.0 * 7.25 / GRAMS_PER_TROY_OZ, rel=1e-15)
    taxed = parity(p_gc_usd_per_oz, usdcnh, 1 / GRAMS_PER_TROY_OZ, 0.13, 2.0)
    assert taxed == pytest.approx(got * 1.13 + 2.0, rel=1e-15)


@SETTINGS
@given(p_a=price_st, p_b=price_st)
def test_spread_flips_sign_when_legs_swap(p_a, p_b):
    assert spread(p_a, p_b) == -spread(p_b, p_a)
    assert spread(p_a, p_a) == 0.0
    r = ratio(p_a, p_b)
    if p_b == 0.0:
        assert np.isnan(r)
    else:
        assert r == pytest.approx(p_a / p_b, rel=1e-15)


@SETTINGS
@given(
    s=st.floats(1.0, 1e5),
    r=st.floats(-0.05, 0.2),
    dt_days=st.floats(0.0, 720.0),
    d=st.floats(-100.0, 100.0),
)
def test_basis_zero_at_fair_value(s, r, dt_days, d):
    fair = s * (1.0 + r * dt_days / 365.0) - d
    assert basis(fair, s, r, dt_days, d) == pytest.approx(0.0, abs=1e-9 * (abs(fair) + abs(d)))
    assert basis(fair + 1.5, s, r, dt_days, d) == pytest.approx(1.5, abs=1e-6)
